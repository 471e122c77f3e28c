// Owns the risk engine as the risk hook sees it: record the event, compute its features, evaluate the
// current rules, store the decision with its inputs and hits (SPEC §7).
// Must never read outside the caller's transaction when it has one (PGlite has one connection), nor let
// a shadow rule change what the customer gets.
import type { Db } from '../store/db.js';
import type { RiskDecider } from './hook.js';
import type { CounterStore } from './counters.js';
import { computeFeatures, FEATURE_NAMES, recordEvent } from './features.js';
import { FEATURES, parseWindowedFeature } from './rule-features.js';
import { mergeFeatures } from './rule-decider.js';
import { evaluate, featuresRead, type RuleSet } from './rules.js';
import { storeDecision } from './decisions.js';
import { beginCountOnce, countsAfter, finishCountOnce } from './count-once.js';

/** The windowed counts (`signups_per_ip_6h`) a rule set reads, worked out once per loaded set. */
const windowedByRuleSet = new WeakMap<RuleSet, string[]>();

export function windowedFeaturesOf(rules: RuleSet): string[] {
  let names = windowedByRuleSet.get(rules);
  if (!names) {
    const read = new Set<string>();
    for (const rule of rules.rules) featuresRead(rule.when, read);
    names = [...read].filter((name) => !isRegisteredFeature(name) && parseWindowedFeature(name) !== null);
    windowedByRuleSet.set(rules, names);
  }
  return names;
}

function isRegisteredFeature(name: string): boolean {
  return Object.hasOwn(FEATURES, name) || (FEATURE_NAMES as readonly string[]).includes(name);
}

/**
 * `shadow`: the whole rule set runs logged-only (rolling the engine out on live traffic): every decision is computed
 * and stored with enforced = false (review and deny still open alerts, for the analysts watching), and the flow is
 * told allow.
 */
export function riskEngine(options: { db: Db; store: CounterStore; rules: () => RuleSet; shadow?: boolean }): RiskDecider {
  return async (event, q) => {
    const through = q ?? options.db;
    const rules = options.rules();
    const now = new Date();
    // A retry that an approved step-up answers was counted with the attempt it answers: one action, one count.
    const once = await beginCountOnce(through, event, now);
    if (once.count) await recordEvent(through, options.store, event, now);
    let features = mergeFeatures(event, await computeFeatures(through, options.store, event, now, windowedFeaturesOf(rules)));
    let evaluation = evaluate(rules, event, features);
    const enforced = (action: typeof evaluation.action) => (options.shadow ? 'allow' : action);
    if (countsAfter(once, event, enforced(evaluation.action))) {
      // A spent proof on a request that needs none: a new action after all, counted and decided as one.
      await recordEvent(through, options.store, event, now);
      features = mergeFeatures(event, await computeFeatures(through, options.store, event, now, windowedFeaturesOf(rules)));
      evaluation = evaluate(rules, event, features);
    }
    await finishCountOnce(through, event, once, enforced(evaluation.action), now);
    const decisionId = await storeDecision(through, {
      event, features, decision: evaluation, hits: evaluation.hits, shadowHits: evaluation.shadowHits, enforced: options.shadow !== true,
    });
    // `alert`: an alert of kind 'alert' was opened (storeDecision opens it in shadow mode too), so a caller that asks
    // until someone is told (the link sweep) knows it has been.
    const alerted = evaluation.alert ? { alert: true } : {};
    if (options.shadow) return { action: 'allow', score: evaluation.score, reasons: evaluation.reasons, decisionId, ...alerted };
    return { action: evaluation.action, score: evaluation.score, reasons: evaluation.reasons, decisionId, ...alerted };
  };
}
