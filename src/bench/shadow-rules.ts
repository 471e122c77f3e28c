// Owns the rule file the end-to-end benchmarks run koza with: every default rule, each in shadow mode.
// Must never drop or loosen a rule: each one is still evaluated and its hits stored; only its action is not applied.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { isMap, isSeq, parseDocument } from 'yaml';
import { DEFAULT_RULE_FILE, loadRuleFile } from '../risk/rule-file.js';

/**
 * Writes `bench-rules.yaml` into `dir` and returns its path. A benchmark charges from a few wallets hundreds of times
 * a second, which is what the velocity rules exist to stop (wallet-charge-velocity, bank-account-charge-velocity):
 * enforced, they would measure step-ups and holds, not the money path. In shadow mode the engine does the same work
 * per event (counters, features, every rule, the decision and its shadow hits stored) and lets the event go ahead.
 */
export function writeShadowRuleFile(dir: string, source = DEFAULT_RULE_FILE): string {
  const doc = parseDocument(readFileSync(source, 'utf8'));
  const rules = doc.get('rules');
  if (!isSeq(rules)) throw new Error(`${source}: no rules to shadow`);
  for (const rule of rules.items) {
    if (isMap(rule)) rule.set('mode', 'shadow');
  }
  // List files are named relative to the rule file; the copy lives elsewhere, so they become absolute.
  const lists = doc.get('lists');
  if (isMap(lists)) {
    for (const pair of lists.items) {
      const spec = pair.value;
      if (isMap(spec) && typeof spec.get('file') === 'string') spec.set('file', resolve(dirname(source), spec.get('file') as string));
    }
  }
  doc.set('description', `${String(doc.get('description') ?? 'rules')}, every rule in shadow mode (koza bench)`);
  const path = join(dir, 'bench-rules.yaml');
  writeFileSync(path, doc.toString());
  loadRuleFile(path); // refuse here, naming the rule, rather than in the koza process it is handed to
  return path;
}

