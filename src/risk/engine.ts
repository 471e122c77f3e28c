// Owns the risk engine as the risk hook sees it: record the event, compute its features, evaluate the
// current rules, store the decision with its inputs and hits (SPEC §7).
// Must never read outside the caller's transaction when it has one (PGlite has one connection), nor let
// a shadow rule change what the customer gets.
import type { Db } from '../store/db.js';
import type { RiskDecider } from './hook.js';
import type { CounterStore } from './counters.js';
import { computeFeatures, recordEvent } from './features.js';
import { mergeFeatures } from './rule-decider.js';
import { evaluate, type RuleSet } from './rules.js';
import { storeDecision } from './decisions.js';

export function riskEngine(options: { db: Db; store: CounterStore; rules: () => RuleSet }): RiskDecider {
  return async (event, q) => {
    const through = q ?? options.db;
    await recordEvent(through, options.store, event);
    const features = mergeFeatures(event, await computeFeatures(through, options.store, event));
    const evaluation = evaluate(options.rules(), event, features);
    const decisionId = await storeDecision(through, {
      event, features, decision: evaluation, hits: evaluation.hits, shadowHits: evaluation.shadowHits, enforced: true,
    });
    return { action: evaluation.action, score: evaluation.score, reasons: evaluation.reasons, decisionId };
  };
}
