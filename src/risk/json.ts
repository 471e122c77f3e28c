// Owns the JSON shapes of risk decisions, alerts, rule sets and dry runs, shared by the API and `koza risk --json`.
// Must never add or drop a field on one side only: the CLI's --json is documented as the API's JSON.
import type { RiskAlert, StoredDecision } from './decisions.js';
import type { DryRunSummary } from './dry-run.js';
import { featuresRead, type RuleSet } from './rules.js';

export function decisionJson(d: StoredDecision) {
  return {
    id: d.id, seq: d.seq, event_kind: d.eventKind, wallet_id: d.walletId, device_key: d.deviceKey, ip: d.ip, bank_code: d.bankCode,
    account_ref: d.accountRef, action: d.action, score: d.score, enforced: d.enforced, rule_hits: d.ruleHits,
    shadow_hits: d.shadowHits, features: d.features, created_at: d.createdAt.toISOString(),
  };
}

export function alertJson(a: RiskAlert) {
  return {
    id: a.id, seq: a.seq, kind: a.kind, status: a.status, created_at: a.createdAt.toISOString(),
    acknowledged_at: a.acknowledgedAt?.toISOString() ?? null, acknowledged_by: a.acknowledgedBy,
    resolution: a.resolution, note: a.note, decision: decisionJson(a.decision),
  };
}

export function rulesJson(set: RuleSet) {
  return {
    engine: 'on' as const, version: set.version, description: set.description ?? null, source: set.source,
    lists: [...set.lists].map(([name, entries]) => ({ name, entries: entries.size })),
    rules: set.rules.map((r) => ({
      id: r.id, description: r.description, events: r.events, when: r.when, features: [...featuresRead(r.when)],
      action: r.action, score: r.score, mode: r.mode, rationale: r.rationale, ...(r.alert ? { alert: true } : {}),
    })),
  };
}

export function dryRunJson(s: DryRunSummary) {
  return {
    replayed: s.replayed, truncated: s.truncated, first: s.first?.toISOString() ?? null, last: s.last?.toISOString() ?? null,
    before: s.before, after: s.after, changes: s.changes, changed: s.changed,
    rules: s.rules.map((r) => ({
      rule: r.rule, mode: r.mode, action: r.action, enforced_hits: r.enforcedHits, shadow_hits: r.shadowHits, recorded_hits: r.recordedHits,
      not_recorded: r.notRecorded, missing_features: r.missingFeatures,
    })),
    samples: s.samples.map((x) => ({
      id: x.id, event_kind: x.eventKind, wallet_id: x.walletId, created_at: x.createdAt.toISOString(), before: x.before, after: x.after,
      rules_before: x.rulesBefore, rules_after: x.rulesAfter,
    })),
  };
}
