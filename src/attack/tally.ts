// Owns the replay's figures: money and links counted from koza's ledger and tables, debits from the banks' own books,
// risk decisions from koza's decision log — never the attacker's or the customers' own view of how it went.
// Must never write: it reads koza's database and the sandbox's admin routes after the traffic has stopped.
import { typedAccountRiskRef } from '../banks/link-flow.js';
import type { SandboxHolderAccount } from '../sandbox/banks/admin.js';
import type { Db } from '../store/db.js';
import { CUSTOMER_GROUPS, type CustomerGroup, type Victim } from './cast.js';
import type { GroupLog } from './customers.js';
import type { TestClock } from './test-clock.js';

export interface AttackFigures {
  leaked_accounts: number;
  wallets_opened: number;
  links_attempted: number;
  links_succeeded: number;
  charges_attempted: number;
  charges_succeeded: number;
  stolen_yen: number;
  victims: number;
  banks_hit: number;
  largest_case_yen: number;
  holders_notified: number;
  /** The banks' books: KOZA debits on the leaked accounts. Equal to stolen_yen when koza's ledger and the banks agree. */
  debited_at_banks_yen: number;
  ledger_matches_banks: boolean;
  holders_reported: number;
  /** Rules that hit koza's decisions on the ring's wallets and addresses (its decision log), by rule id. */
  rules_hit: Record<string, number>;
  /** PINs the attacker marked confirmed that really are the account's PIN (the sandbox's holder data): beliefs that are wrong do not count. */
  pins_confirmed: number;
  /** Targeted accounts the bank locked (PIN failures): the holder is locked out of their own bank. */
  bank_accounts_locked: number;
  /** koza's risk alerts on the attacker's wallets, devices, addresses or the targeted accounts. */
  alerts: number;
  /** Simulated seconds from the attack's first request to the first such alert; null when none was raised. */
  first_alert_after_s: number | null;
}

export type AttackSignals = Pick<AttackFigures, 'pins_confirmed' | 'bank_accounts_locked' | 'alerts' | 'first_alert_after_s'>;

/** Everything that points at the attacker in koza's decision log, and the accounts it went after. */
export interface AttackerTraces {
  walletIds: string[];
  deviceIds: string[];
  addresses: string[];
  targets: Array<{ bank_code: string; branch_code: string; account_number: string }>;
  /** What the attacker believes are right PINs, by account. */
  believedPins: Array<{ bank_code: string; branch_code: string; account_number: string; pin: string }>;
}

const accountKey = (a: { bank_code: string; branch_code: string; account_number: string }) => `${a.bank_code}/${a.branch_code}/${a.account_number}`;

/**
 * The signals the issue asks of every scenario, from the books: risk alerts from koza's alert table (joined to the
 * decision each came from), locks and PINs from the sandbox's holder data after the run. `startedAt` is the simulated
 * time (ms) of the attack's first request; alerts' stored times are mapped back through the test clock.
 */
export async function tallySignals(db: Db, banksUrl: string, secretKey: Buffer, clock: TestClock, traces: AttackerTraces,
  startedAt: number): Promise<AttackSignals> {
  const holders = await sandboxData<SandboxHolderAccount[]>(banksUrl, '/sandbox/holders');
  const byKey = new Map(holders.map((h) => [accountKey(h), h]));
  const targets = [...new Map(traces.targets.map((t) => [accountKey(t), t])).values()];
  const refs = targets.flatMap((t) => [
    typedAccountRiskRef(secretKey, t.bank_code, t), ...(byKey.get(accountKey(t)) ? [byKey.get(accountKey(t))!.account_ref] : []),
  ]);
  const confirmed = new Set(traces.believedPins.filter((b) => byKey.get(accountKey(b))?.pin === b.pin).map(accountKey));
  const alerts = await db.query<{ n: number; first: Date | null }>(
    `SELECT count(*)::int8 AS n, min(a.created_at) AS first FROM risk_alerts a JOIN risk_decisions d ON d.id = a.decision_id
      WHERE d.wallet_id = ANY($1::text[]) OR d.device_key = ANY($2::text[]) OR d.ip = ANY($3::text[]) OR d.account_ref = ANY($4::text[])`,
    [traces.walletIds, traces.deviceIds.map((id) => `id:${id}`), traces.addresses, refs]);
  const { n, first } = alerts.rows[0]!;
  return {
    pins_confirmed: confirmed.size,
    bank_accounts_locked: targets.filter((t) => byKey.get(accountKey(t))?.pin_locked).length,
    alerts: n,
    first_alert_after_s: first ? Math.max(0, Math.round((clock.simulatedAt(new Date(first)) - startedAt) / 1000)) : null,
  };
}

export interface LegitFigures {
  customers: number;
  links_attempted: number;
  links_succeeded: number;
  charges_attempted: number;
  charges_succeeded: number;
  challenged: number;
  /** Steps refused (a deny decision, or a refusal the customer met). */
  denied: number;
  /** Steps held for an analyst (a review of a link or a money movement); each one also in groups' held. */
  held: number;
  payments_attempted: number;
  payments_succeeded: number;
  /** The enforced rules the customers' own decisions hit (an allow-but-alert rule too): what honest people met. */
  rules_hit: Record<string, number>;
  /** Each group of ordinary customers (cast.ts): what they set out to do and how it ended. */
  groups?: Record<CustomerGroup, GroupFigures>;
  /** All groups together against issue 11's targets. */
  targets?: CustomerTargets;
}

/**
 * One group's figures. attempted/succeeded: actions as the customers saw them (customers.ts GroupLog). challenged,
 * held, denied: the larger of what the customers saw and koza's decision log on their wallets (challenge; review of a
 * link or money movement; deny). stranded: customers who never got money into their wallet, or whose journey a refusal
 * ended. steered: refusals that sent the customer another way (a PIN-only bank → a bank transfer).
 */
export interface GroupFigures extends Omit<GroupLog, 'walletIds' | 'deviceKeys'> {
  /** The rules koza's decisions on this group's wallets hit (enforced), by rule id. */
  rules_hit: Record<string, number>;
}

/** Issue 11's targets for ordinary customers under secure: 0 denied, 0 stranded, ≤ 2 % of actions challenged, ≤ 0.5 % held. */
export interface CustomerTargets {
  actions: number;
  challenged: number;
  challenged_pct: number;
  held: number;
  held_pct: number;
  denied: number;
  stranded: number;
  met: boolean;
}

export const TARGET_CHALLENGED_PCT = 2;
export const TARGET_HELD_PCT = 0.5;

/** The per-group figures from the customers' logs and koza's decision log; and all groups against the targets. */
export async function tallyGroups(db: Db, groups: Record<CustomerGroup, GroupLog>): Promise<{
  groups: Record<CustomerGroup, GroupFigures>; targets: CustomerTargets;
}> {
  const out = {} as Record<CustomerGroup, GroupFigures>;
  for (const group of CUSTOMER_GROUPS) {
    const log = groups[group];
    // koza's decisions on the group's wallets from the customers' own devices (a ring signing in to a customer's wallet
    // from its devices is not the customer). challenged: where a challenge asks the person for something more — a
    // link's is met by the step-up the secure policy takes at every link start, so the customer sees nothing of it.
    // held: link requests a review held (whatever the analyst did after) and movements a review held.
    const decided = (await db.query<{ challenged: number; held: number; denied: number }>(
      `SELECT count(*) FILTER (WHERE action = 'challenge' AND event_kind IN ('login', 'charge', 'payment', 'withdrawal'))::int8 AS challenged,
              count(*) FILTER (WHERE action = 'review' AND event_kind IN ('charge', 'payment', 'withdrawal'))::int8
                + (SELECT count(*) FROM link_requests WHERE wallet_id = ANY($1::text[]) AND state IN ('held', 'released', 'rejected'))::int8 AS held,
              count(*) FILTER (WHERE action = 'deny')::int8 AS denied
         FROM risk_decisions WHERE wallet_id = ANY($1::text[]) AND device_key = ANY($2::text[]) AND enforced`,
      [log.walletIds, log.deviceKeys])).rows[0]!;
    out[group] = {
      customers: log.customers, attempted: log.attempted, succeeded: log.succeeded,
      challenged: Math.max(log.challenged, decided.challenged), held: Math.max(log.held, decided.held),
      denied: Math.max(log.denied, decided.denied), stranded: log.stranded, steered: log.steered,
      rules_hit: log.walletIds.length === 0 ? {} : await rulesHit(db, log.walletIds, []),
    };
  }
  const all = Object.values(out);
  const sum = (k: 'attempted' | 'challenged' | 'held' | 'denied' | 'stranded') => all.reduce((s, g) => s + g[k], 0);
  const actions = sum('attempted');
  const pct = (n: number) => (actions === 0 ? 0 : Math.round((10_000 * n) / actions) / 100);
  const targets: CustomerTargets = {
    actions, challenged: sum('challenged'), challenged_pct: pct(sum('challenged')), held: sum('held'), held_pct: pct(sum('held')),
    denied: sum('denied'), stranded: sum('stranded'), met: false,
  };
  targets.met = targets.denied === 0 && targets.stranded === 0 && targets.challenged_pct <= TARGET_CHALLENGED_PCT && targets.held_pct <= TARGET_HELD_PCT;
  return { groups: out, targets };
}

interface PassbookLine { descriptor: string; withdrawal: number; reference: string | null }

export async function sandboxData<T>(banksUrl: string, path: string): Promise<T> {
  const res = await fetch(`${banksUrl}${path}`);
  if (!res.ok) throw new Error(`bank sandbox ${path}: ${res.status}`);
  return ((await res.json()) as { data: T }).data;
}

/** Links that became the wallets' (active, or revoked later) and posted charges, from koza's tables. */
export async function walletRecords(db: Db, walletIds: string[]) {
  const links = await db.query<{ n: number }>(
    'SELECT count(*)::int8 AS n FROM bank_links WHERE wallet_id = ANY($1::text[])', [walletIds]);
  const charges = await db.query<{ n: number; yen: number }>(
    `SELECT count(*)::int8 AS n, coalesce(sum(amount), 0)::int8 AS yen FROM bank_movements
      WHERE wallet_id = ANY($1::text[]) AND kind = 'charge' AND status = 'posted'`, [walletIds]);
  // The ledger's side of the same money: posted transfers into the wallets' ledger accounts from bank clearing.
  const ledger = await db.query<{ yen: number }>(
    `SELECT coalesce(sum(m.amount), 0)::int8 AS yen FROM bank_movements m
       JOIN ledger_transfers p ON p.pending_id = m.pending_transfer_id AND p.kind = 'post_pending'
      WHERE m.wallet_id = ANY($1::text[]) AND m.kind = 'charge'`, [walletIds]);
  return { links: links.rows[0]!.n, charges: charges.rows[0]!.n, chargedYen: charges.rows[0]!.yen, ledgerYen: ledger.rows[0]!.yen };
}

/** Rule hits on decisions about the ring: its wallets, or its addresses (a refused sign-up leaves no wallet). */
export async function rulesHit(db: Db, walletIds: string[], addresses: string[]): Promise<Record<string, number>> {
  const res = await db.query<{ rule: string; n: number }>(
    `SELECT hit->>'rule' AS rule, count(*)::int8 AS n
       FROM risk_decisions, jsonb_array_elements(rule_hits) AS hit
      WHERE (wallet_id = ANY($1::text[]) OR ip = ANY($2::text[])) AND enforced
      GROUP BY 1 ORDER BY 2 DESC, 1`, [walletIds, addresses]);
  return Object.fromEntries(res.rows.map((r) => [r.rule, r.n]));
}

export async function tallyAttack(db: Db, banksUrl: string, victims: Victim[], attacker: {
  walletIds: string[]; linksAttempted: number; chargesAttempted: number; addresses: string[];
}, holders: { notified: number; reported: number }, signals: AttackSignals): Promise<AttackFigures> {
  const records = await walletRecords(db, attacker.walletIds);
  const perAccount: Array<{ bank: string; yen: number }> = [];
  for (const { holder } of victims) {
    const lines = await sandboxData<PassbookLine[]>(banksUrl,
      `/sandbox/banks/${holder.bank_code}/accounts/${holder.branch_code}/${holder.account_number}/passbook`);
    const yen = lines.filter((l) => l.withdrawal > 0 && l.descriptor.startsWith('KOZA')).reduce((sum, l) => sum + l.withdrawal, 0);
    if (yen > 0) perAccount.push({ bank: holder.bank_code, yen });
  }
  const debited = perAccount.reduce((sum, a) => sum + a.yen, 0);
  return {
    leaked_accounts: victims.length,
    wallets_opened: attacker.walletIds.length,
    links_attempted: attacker.linksAttempted,
    links_succeeded: records.links,
    charges_attempted: attacker.chargesAttempted,
    charges_succeeded: records.charges,
    stolen_yen: records.chargedYen,
    victims: perAccount.length,
    banks_hit: new Set(perAccount.map((a) => a.bank)).size,
    largest_case_yen: Math.max(0, ...perAccount.map((a) => a.yen)),
    holders_notified: holders.notified,
    debited_at_banks_yen: debited,
    ledger_matches_banks: debited === records.chargedYen && records.ledgerYen === records.chargedYen,
    holders_reported: holders.reported,
    rules_hit: await rulesHit(db, attacker.walletIds, attacker.addresses),
    ...signals,
  };
}

/**
 * Challenged: charges and payments the risk engine answered with `challenge` (its decision log), or that koza answered
 * 403 step-up-required — whichever saw more. Denied: refusals the customers met (a deny decision, or a refusal answer);
 * held: a review that held a link or a movement — each from the decision log and from the answers, whichever saw more.
 */
export async function tallyLegit(db: Db, customers: {
  walletIds: string[]; linksAttempted: number; chargesAttempted: number; paymentsAttempted: number; challenged: number; denied: number;
  held?: number; groups?: Record<CustomerGroup, GroupLog>;
}, count: number): Promise<LegitFigures> {
  const records = await walletRecords(db, customers.walletIds);
  const payments = await db.query<{ n: number }>('SELECT count(*)::int8 AS n FROM payments WHERE wallet_id = ANY($1::text[])', [customers.walletIds]);
  const decisions = await db.query<{ challenged: number; denied: number; held: number }>(
    `SELECT count(*) FILTER (WHERE action = 'challenge' AND event_kind IN ('charge', 'payment', 'withdrawal'))::int8 AS challenged,
            count(*) FILTER (WHERE action = 'deny')::int8 AS denied,
            count(*) FILTER (WHERE action = 'review' AND event_kind IN ('link_start', 'link_complete', 'charge', 'payment', 'withdrawal'))::int8 AS held
       FROM risk_decisions WHERE wallet_id = ANY($1::text[]) AND enforced`, [customers.walletIds]);
  const decided = decisions.rows[0]!;
  const figures: LegitFigures = {
    customers: count,
    links_attempted: customers.linksAttempted,
    links_succeeded: records.links,
    charges_attempted: customers.chargesAttempted,
    charges_succeeded: records.charges,
    challenged: Math.max(decided.challenged, customers.challenged),
    denied: Math.max(decided.denied, customers.denied),
    held: Math.max(decided.held, customers.held ?? 0),
    payments_attempted: customers.paymentsAttempted,
    payments_succeeded: payments.rows[0]!.n,
    rules_hit: await rulesHit(db, customers.walletIds, []),
  };
  if (!customers.groups) return figures;
  const byGroup = await tallyGroups(db, customers.groups);
  // A link released by the analyst and started again passes a review decision without being held: the groups count
  // held link requests, not review decisions.
  return { ...figures, held: byGroup.targets.held, ...byGroup };
}
