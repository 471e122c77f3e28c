// Owns the glue from the risk hook to the rule engine: event → features → evaluate(current rule set).
// Must never compute a feature itself or cache a rule set: it asks for the current one on every event (hot reload).
import type { Queryable } from '../store/db.js';
import type { RiskDecider, RiskEvent } from './hook.js';
import { featuresFromEvent, type FeatureVector } from './rule-features.js';
import { evaluate, type RuleEvaluation, type RuleSet } from './rules.js';

/** Reads the features the counter store keeps; through `q` when the caller is in a transaction. */
export type FeatureSource = (event: RiskEvent, q?: Queryable) => Promise<FeatureVector>;

/**
 * A RiskDecider over rules as data. The decision it returns is a RuleEvaluation (hits and shadow hits included),
 * so whoever stores decisions can record shadow hits without a second evaluation.
 */
export function ruleDecider(currentRules: () => RuleSet, features: FeatureSource): RiskDecider & ((event: RiskEvent, q?: Queryable) => Promise<RuleEvaluation>) {
  return async (event, q) => evaluate(currentRules(), event, mergeFeatures(event, await features(event, q)));
}

/** The event's own facts, then what the store knows; a store that does not know a fact does not erase it. */
export function mergeFeatures(event: RiskEvent, stored: FeatureVector): FeatureVector {
  const vector = { ...featuresFromEvent(event) };
  for (const [name, value] of Object.entries(stored)) {
    if (value !== null || !(name in vector)) vector[name] = value;
  }
  return vector;
}
