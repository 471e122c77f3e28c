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

/**
 * The most one bank account may be charged through links its holder has not confirmed, by default: the new-link cap
 * (KOZA_NEW_LINK_TOTAL_CAP, 3 × ¥10,000 per rolling 24 h), for the first 72 h and for ever after without a confirmation.
 */
const NEW_LINK_CAP = 30_000;

/** Issue 11's targets for ordinary customers under secure, as problems for the verdict (none when met or not measured). */
function targetProblems(report: AttackReport): string[] {
  const t = report.legit.targets;
  if (!t || t.met) return [];
  return [
    t.denied > 0 ? `${t.denied} customer actions denied` : '',
    t.stranded > 0 ? `${t.stranded} customers stranded` : '',
    t.challenged_pct > 2 ? `${t.challenged_pct}% of customer actions challenged (over 2%)` : '',
    t.held_pct > 0.5 ? `${t.held_pct}% of customer actions held (over 0.5%)` : '',
  ].filter(Boolean);
}

export function verdictOf(report: AttackReport): Verdict {
  const { attack, legit } = report;
  if (report.scenario !== 'docomo-2020') return newScenarioVerdict(report);
  if (report.policy === 'legacy-2020') {
    return attack.stolen_yen > 0
      ? { expected: true, text: `the 2020 attack works again: ${yen(attack.stolen_yen)} taken from ${attack.victims} accounts at ${attack.banks_hit} banks` }
      : { expected: false, text: 'the attack took nothing under legacy-2020 — the replay did not reproduce 2020' };
  }
  const moves = legit.charges_attempted + legit.payments_attempted;
  const challengedShare = moves === 0 ? 0 : legit.challenged / moves;
  const problems = [
    attack.stolen_yen > 0 ? `${yen(attack.stolen_yen)} stolen` : '',
    legit.denied > 0 ? `${legit.denied} ordinary customer steps refused` : '',
    challengedShare > 0.05 ? `customers challenged on ${pct(legit.challenged, moves)} of charges and payments (over 5%)` : '',
    ...targetProblems(report),
  ].filter(Boolean);
  return problems.length === 0
    ? { expected: true, text: `the attack fails: nothing stolen; ordinary customers refused nothing, challenged on ${pct(legit.challenged, moves)} of charges and payments` }
    : { expected: false, text: `NOT as expected: ${problems.join('; ')}` };
}

/** Issue 10's targets under secure; under legacy-2020 the attack should work (money or PINs taken). */
function newScenarioVerdict(report: AttackReport): Verdict {
  const { attack, legit } = report;
  const taken = `${yen(attack.stolen_yen)} taken from ${attack.victims} accounts; ${attack.pins_confirmed} PINs confirmed; `
    + `${attack.bank_accounts_locked} bank accounts locked; ${attack.alerts} alerts`;
  if (report.policy === 'legacy-2020') {
    const works = attack.stolen_yen > 0 || attack.pins_confirmed > 0;
    return { expected: works, text: works ? `the attack works under the 2020 rules: ${taken}` : `the attack took nothing under legacy-2020: ${taken}` };
  }
  const problems = report.scenario === 'sim-swap'
    ? [
      attack.largest_case_yen > NEW_LINK_CAP ? `${yen(attack.largest_case_yen)} from one account (over the new-link cap of ${yen(NEW_LINK_CAP)} without the holder's confirmation)` : '',
      attack.first_alert_after_s === null || attack.first_alert_after_s >= 86_400 ? 'no alert before the second day\'s charge' : '',
      attack.holders_notified < attack.leaked_accounts ? `${attack.leaked_accounts - attack.holders_notified} holders not told off the phone` : '',
    ]
    : [
      attack.stolen_yen > 0 ? `${yen(attack.stolen_yen)} taken` : '',
      attack.pins_confirmed > 0 ? `${attack.pins_confirmed} PINs confirmed` : '',
      attack.bank_accounts_locked > 0 ? `${attack.bank_accounts_locked} holders locked out at their bank` : '',
    ];
  if (legit.denied > 0) problems.push(`${legit.denied} ordinary customer steps refused`);
  problems.push(...targetProblems(report));
  const moves = legit.charges_attempted + legit.payments_attempted;
  if (moves > 0 && legit.challenged / moves > 0.05) {
    problems.push(`customers challenged on ${pct(legit.challenged, moves)} of charges and payments (over 5%)`);
  }
  const found = problems.filter(Boolean);
  return found.length === 0
    ? { expected: true, text: `the attack fails: ${taken}; ordinary customers refused nothing` }
    : { expected: false, text: `NOT as expected: ${found.join('; ')}` };
}

/** The per-group table of ordinary customers and the line against issue 11's targets (absent in reports made before). */
function groupLines(report: AttackReport): string[] {
  const { groups, targets } = report.legit;
  if (!groups || !targets) return [];
  const cols = ['customers', 'attempted', 'succeeded', 'challenged', 'held', 'denied', 'stranded', 'steered'] as const;
  const head = `  ${'group'.padEnd(15)}${cols.map((c) => c.padStart(11)).join('')}`;
  const rows = Object.entries(groups).filter(([, g]) => g.customers > 0)
    .map(([name, g]) => `  ${name.padEnd(15)}${cols.map((c) => String(g[c]).padStart(11)).join('')}`);
  return [
    '',
    'ordinary customers by group (actions; challenged/held/denied: the larger of what they saw and koza\'s decision log)',
    head, ...rows,
    `  targets: ${targets.denied} denied (0), ${targets.stranded} stranded (0), ${targets.challenged} challenged = ${targets.challenged_pct}% `
      + `of ${num(targets.actions)} actions (≤ 2%), ${targets.held} held = ${targets.held_pct}% (≤ 0.5%): ${targets.met ? 'met' : 'NOT met'}`,
  ];
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
      + `${report.duration_s} s, ${num(report.requests)} requests${report.simulated_hours ? `, ${report.simulated_hours} simulated hours` : ''}`,
    '',
    'the attack (outcomes from koza\'s ledger and the banks\' books)',
    row('targeted', `${attack.leaked_accounts} at ${report.victim_banks.length} banks (${report.victim_banks.join(' ')})`),
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
    row('PINs confirmed', `${attack.pins_confirmed} (checked against the banks' data)`),
    row('bank accounts locked', num(attack.bank_accounts_locked)),
    row('alerts', `${num(attack.alerts)}${attack.first_alert_after_s === null ? '' : `, the first ${num(attack.first_alert_after_s)} s (simulated) after the attack began`}`),
    '',
    'ordinary customers',
    row('customers', num(legit.customers)),
    row('links', `${legit.links_succeeded} of ${legit.links_attempted} linked`),
    row('charges', `${legit.charges_succeeded} of ${legit.charges_attempted} posted`),
    row('payments', `${legit.payments_succeeded} of ${legit.payments_attempted} paid`),
    row('challenged', `${legit.challenged} (${pct(legit.challenged, legit.charges_attempted + legit.payments_attempted)} of charges and payments)`),
    row('denied', num(legit.denied)),
    ...counts('  rules their own steps met:', legit.rules_hit),
    ...groupLines(report),
    '',
    `verdict: ${verdictOf(report).text}`,
    ...counts('\nrisk rules that hit the ring (koza\'s decision log, its wallets and addresses):', report.attack.rules_hit),
    ...counts('\nwhy the ring\'s attempts ended (its own view):', report.attacker_refusals),
    ...counts('\nwhat ordinary customers were refused:', report.legit_refusals),
    ...counts('\nother customer failures:', report.legit_failures),
  ];
  return `${lines.join('\n')}\n`;
}
