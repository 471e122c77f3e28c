// Owns how an attack replay reads: the summary table of the attack and the ordinary customers, and the verdict.
// Must never compute a figure: it prints the tally as it is.
import type { AttackReport } from './scenario.js';

const yen = (n: number) => `¥${n.toLocaleString('en-US')}`;
const num = (n: number) => n.toLocaleString('en-US');
const pct = (part: number, whole: number) => (whole === 0 ? '0%' : `${((100 * part) / whole).toFixed(1)}%`);

export interface Verdict {
  /** legacy-2020: money was stolen; secure: nothing stolen, no customer refused, challenges ≤ 5% of charges. */
  expected: boolean;
  text: string;
}

export function verdictOf(report: AttackReport): Verdict {
  const { attack, legit } = report;
  if (report.policy === 'legacy-2020') {
    return attack.stolen_yen > 0
      ? { expected: true, text: `the 2020 attack works again: ${yen(attack.stolen_yen)} taken from ${attack.victims} accounts at ${attack.banks_hit} banks` }
      : { expected: false, text: 'the attack took nothing under legacy-2020 — the replay did not reproduce 2020' };
  }
  const challengedShare = legit.charges_attempted === 0 ? 0 : legit.challenged / legit.charges_attempted;
  const problems = [
    attack.stolen_yen > 0 ? `${yen(attack.stolen_yen)} stolen` : '',
    legit.denied > 0 ? `${legit.denied} ordinary customer steps refused` : '',
    challengedShare > 0.05 ? `customers challenged on ${pct(legit.challenged, legit.charges_attempted)} of charges (over 5%)` : '',
  ].filter(Boolean);
  return problems.length === 0
    ? { expected: true, text: `the attack fails: nothing stolen; ordinary customers refused nothing, challenged on ${pct(legit.challenged, legit.charges_attempted)} of charges` }
    : { expected: false, text: `NOT as expected: ${problems.join('; ')}` };
}

function counts(title: string, byReason: Record<string, number>): string[] {
  const entries = Object.entries(byReason).sort((a, b) => b[1] - a[1]);
  if (entries.length === 0) return [];
  return [title, ...entries.map(([reason, n]) => `  ${String(n).padStart(5)}  ${reason}`)];
}

export function summaryOf(report: AttackReport): string {
  const { attack, legit } = report;
  const row = (label: string, value: string) => `  ${label.padEnd(26)}${value}`;
  const lines = [
    `koza attack ${report.scenario} — policy ${report.policy}, seed ${report.seed}, ${report.banks} banks, ${report.backend}, `
      + `${report.duration_s} s, ${num(report.requests)} requests`,
    '',
    'the attack (outcomes from koza\'s ledger and the banks\' books)',
    row('leaked accounts', `${attack.leaked_accounts} at ${report.victim_banks.length} banks (${report.victim_banks.join(' ')})`),
    row('wallets opened', num(attack.wallets_opened)),
    row('links attempted', num(attack.links_attempted)),
    row('links succeeded', num(attack.links_succeeded)),
    row('charges attempted', num(attack.charges_attempted)),
    row('charges succeeded', num(attack.charges_succeeded)),
    row('stolen', yen(attack.stolen_yen)),
    row('victims', `${attack.victims} accounts at ${attack.banks_hit} of ${report.banks} banks`),
    row('largest case', yen(attack.largest_case_yen)),
    row('debited at the banks', `${yen(attack.debited_at_banks_yen)} (${attack.ledger_matches_banks ? 'equal to koza\'s ledger' : 'DIFFERS from koza\'s ledger'})`),
    row('holders notified', `${attack.holders_notified} of ${attack.leaked_accounts}; ${attack.holders_reported} reported a debit`),
    '',
    'ordinary customers',
    row('customers', num(legit.customers)),
    row('links', `${legit.links_succeeded} of ${legit.links_attempted} linked`),
    row('charges', `${legit.charges_succeeded} of ${legit.charges_attempted} posted`),
    row('payments', `${legit.payments_succeeded} of ${legit.payments_attempted} paid`),
    row('challenged', `${legit.challenged} (${pct(legit.challenged, legit.charges_attempted)} of charges)`),
    row('denied', num(legit.denied)),
    '',
    `verdict: ${verdictOf(report).text}`,
    ...counts('\nrisk rules that hit the ring (koza\'s decision log, its wallets and addresses):', report.attack.rules_hit),
    ...counts('\nwhy the ring\'s attempts ended (its own view):', report.attacker_refusals),
    ...counts('\nwhat ordinary customers were refused:', report.legit_refusals),
    ...counts('\nother customer failures:', report.legit_failures),
  ];
  return `${lines.join('\n')}\n`;
}
