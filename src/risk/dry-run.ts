// Owns the dry run of a candidate rule set: replay recorded decisions through it and count what would change.
// Must never write anything, nor recompute a feature: it re-decides on the features stored with each decision,
// the ones the engine saw at the time (a counter that has moved on since does not change the replay).
import type { Queryable } from '../store/db.js';
import type { RiskAction, RiskEvent, RiskEventKind } from './hook.js';
import type { Features } from './features.js';
import type { RuleHit as StoredRuleHit } from './decisions.js';
import { evaluate, featuresRead, RISK_ACTIONS, type RuleMode, type RuleSet } from './rules.js';

export const DRY_RUN_DEFAULT_LIMIT = 10_000;
export const DRY_RUN_MAX_LIMIT = 100_000;
export const DRY_RUN_SAMPLE_SIZE = 20;
/** Rows read per query: a replay of 100 000 decisions never holds them all in memory at once. */
const BATCH = 1_000;

export interface DryRunOptions {
  /** Decisions made at or after this moment. */
  since?: Date;
  /** Decisions made before this moment. */
  until?: Date;
  /** The newest this many decisions in the window (default 10 000, at most 100 000). */
  limit?: number;
  /** Only these event kinds. */
  eventKinds?: RiskEventKind[];
}

/** What a replay needs of one recorded decision. */
export interface RecordedDecision {
  id: string;
  seq: number;
  eventKind: RiskEventKind;
  walletId: string | null;
  action: RiskAction;
  ruleHits: StoredRuleHit[];
  shadowHits: StoredRuleHit[];
  features: Features;
  createdAt: Date;
}

export type ActionCounts = Record<RiskAction, number>;

export interface DryRunRuleCount {
  rule: string;
  mode: RuleMode;
  action: RiskAction;
  /** Times it fired as an enforced rule in the candidate (0 for a shadow rule). */
  enforcedHits: number;
  /** Times it fired as a shadow rule in the candidate (0 for an enforced rule). */
  shadowHits: number;
  /** Times a rule with this id hit (enforced or shadow) in the recorded decisions. */
  recordedHits: number;
  /**
   * Decisions of this rule's events recorded without a feature it reads (a windowed count no rule read at the time
   * is not computed): the rule could not fire on them, so its hits understate what it would do from now on.
   */
  notRecorded: number;
  /** The features it reads that were missing from at least one of those decisions. */
  missingFeatures: string[];
}

export interface DryRunSample {
  id: string;
  eventKind: RiskEventKind;
  walletId: string | null;
  createdAt: Date;
  before: RiskAction;
  after: RiskAction;
  /** Rule ids that made the recorded action. */
  rulesBefore: string[];
  /** Rule ids that make the candidate's action. */
  rulesAfter: string[];
}

export interface DryRunSummary {
  replayed: number;
  /** More decisions matched the window than the limit: the oldest of them were not replayed. */
  truncated: boolean;
  /** The oldest and newest decision replayed; null when none were. */
  first: Date | null;
  last: Date | null;
  before: ActionCounts;
  after: ActionCounts;
  /** changes[before][after]: how many decisions went from one action to the other (the diagonal did not change). */
  changes: Record<RiskAction, ActionCounts>;
  changed: number;
  /** Decisions that opened (recorded) or would open (candidate) an alert: review, deny, or a rule with `alert: true`. */
  alerts: { before: number; after: number };
  /** Every rule of the candidate, in file order. */
  rules: DryRunRuleCount[];
  /** Up to 20 decisions whose action changed, newest first. */
  samples: DryRunSample[];
}

const zeroCounts = (): ActionCounts => ({ allow: 0, challenge: 0, review: 0, deny: 0 });

/** Accumulates a replay one decision at a time (the database read feeds it in batches). */
export class DryRun {
  readonly summary: DryRunSummary;
  private readonly byRule = new Map<string, DryRunRuleCount>();
  private readonly reads: Array<{ count: DryRunRuleCount; events: ReadonlySet<string>; features: string[] }>;

  constructor(private readonly candidate: RuleSet) {
    const changes = {} as Record<RiskAction, ActionCounts>;
    for (const a of RISK_ACTIONS) changes[a] = zeroCounts();
    const rules = candidate.rules.map((r): DryRunRuleCount => ({
      rule: r.id, mode: r.mode, action: r.action, enforcedHits: 0, shadowHits: 0, recordedHits: 0, notRecorded: 0, missingFeatures: [],
    }));
    for (const r of rules) this.byRule.set(r.rule, r);
    this.reads = candidate.rules.map((r, i) => ({ count: rules[i]!, events: new Set(r.events), features: [...featuresRead(r.when)] }));
    this.summary = {
      replayed: 0, truncated: false, first: null, last: null, before: zeroCounts(), after: zeroCounts(), changes, changed: 0,
      alerts: { before: 0, after: 0 }, rules, samples: [],
    };
  }

  add(decision: RecordedDecision): void {
    const s = this.summary;
    const event: Pick<RiskEvent, 'kind' | 'walletId'> = { kind: decision.eventKind, walletId: decision.walletId };
    const result = evaluate(this.candidate, event, decision.features);
    s.replayed += 1;
    if (s.first === null || decision.createdAt < s.first) s.first = decision.createdAt;
    if (s.last === null || decision.createdAt > s.last) s.last = decision.createdAt;
    s.before[decision.action] += 1;
    s.after[result.action] += 1;
    s.changes[decision.action][result.action] += 1;
    const opensAlert = (action: RiskAction, alert: boolean) => action === 'review' || action === 'deny' || alert;
    if (opensAlert(decision.action, decision.ruleHits.some((h) => h.alert === true))) s.alerts.before += 1;
    if (opensAlert(result.action, result.alert === true)) s.alerts.after += 1;
    for (const hit of result.hits) this.byRule.get(hit.rule)!.enforcedHits += 1;
    for (const hit of result.shadowHits) this.byRule.get(hit.rule)!.shadowHits += 1;
    const recorded = new Set([...decision.ruleHits, ...decision.shadowHits].map((h) => h.rule));
    for (const id of recorded) {
      const counted = this.byRule.get(id);
      if (counted) counted.recordedHits += 1;
    }
    for (const { count, events, features } of this.reads) {
      if (!events.has(decision.eventKind)) continue;
      const missing = features.filter((f) => !Object.hasOwn(decision.features, f));
      if (missing.length === 0) continue;
      count.notRecorded += 1;
      for (const f of missing) if (!count.missingFeatures.includes(f)) count.missingFeatures.push(f);
    }
    if (result.action === decision.action) return;
    s.changed += 1;
    if (s.samples.length < DRY_RUN_SAMPLE_SIZE) {
      s.samples.push({
        id: decision.id, eventKind: decision.eventKind, walletId: decision.walletId, createdAt: decision.createdAt,
        before: decision.action, after: result.action,
        rulesBefore: decision.ruleHits.map((h) => h.rule), rulesAfter: result.hits.map((h) => h.rule),
      });
    }
  }
}

/** Replays decisions given in memory (newest first, as the database read gives them). */
export function replayDecisions(candidate: RuleSet, decisions: Iterable<RecordedDecision>): DryRunSummary {
  const run = new DryRun(candidate);
  for (const d of decisions) run.add(d);
  return run.summary;
}

interface Row {
  id: string;
  seq: number | string;
  event_kind: RiskEventKind;
  wallet_id: string | null;
  action: RiskAction;
  rule_hits: StoredRuleHit[] | string;
  shadow_hits: StoredRuleHit[] | string;
  features: Features | string;
  created_at: Date;
}

const json = <T>(v: T | string): T => (typeof v === 'string' ? JSON.parse(v) as T : v);

/** Checks the options a caller (route or command) passes on; a RangeError names the bad one. */
export function dryRunLimit(opts: DryRunOptions): number {
  const limit = opts.limit ?? DRY_RUN_DEFAULT_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > DRY_RUN_MAX_LIMIT) {
    throw new RangeError(`limit must be a whole number from 1 to ${DRY_RUN_MAX_LIMIT}, not ${limit}`);
  }
  for (const key of ['since', 'until'] as const) {
    const at = opts[key];
    if (at !== undefined && Number.isNaN(at.getTime())) throw new RangeError(`${key} is not a valid time`);
  }
  if (opts.since && opts.until && opts.since >= opts.until) throw new RangeError('since must be before until');
  return limit;
}

/**
 * Replays the newest `limit` recorded decisions in [since, until) through `candidate`. Reads in batches of
 * 1 000 by descending seq, so memory stays flat however large the window.
 */
export async function dryRunRules(q: Queryable, candidate: RuleSet, opts: DryRunOptions = {}): Promise<DryRunSummary> {
  const limit = dryRunLimit(opts);
  const run = new DryRun(candidate);
  let before: number | null = null;
  let remaining = limit;
  for (;;) {
    const take = Math.min(BATCH, remaining);
    const res: { rows: Row[] } = await q.query<Row>(
      `SELECT id, seq, event_kind, wallet_id, action, rule_hits, shadow_hits, features, created_at FROM risk_decisions
        WHERE ($1::timestamptz IS NULL OR created_at >= $1::timestamptz)
          AND ($2::timestamptz IS NULL OR created_at < $2::timestamptz)
          AND ($3::text[] IS NULL OR event_kind = ANY($3::text[]))
          AND ($4::bigint IS NULL OR seq < $4::bigint)
        ORDER BY seq DESC LIMIT $5`,
      [opts.since?.toISOString() ?? null, opts.until?.toISOString() ?? null, opts.eventKinds ?? null, before, take + 1],
    );
    const rows = res.rows.slice(0, take);
    for (const r of rows) {
      run.add({
        id: r.id, seq: Number(r.seq), eventKind: r.event_kind, walletId: r.wallet_id, action: r.action,
        ruleHits: json(r.rule_hits), shadowHits: json(r.shadow_hits), features: json(r.features), createdAt: new Date(r.created_at),
      });
    }
    remaining -= rows.length;
    const more = res.rows.length > take;
    if (!more) break;
    if (remaining === 0) {
      run.summary.truncated = true;
      break;
    }
    before = Number(rows[rows.length - 1]!.seq);
  }
  return run.summary;
}
