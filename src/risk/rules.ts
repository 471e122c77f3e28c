// Owns rules as data: parsing and validating a rule file, and deciding an event from a rule set and features.
// Must never read a database, the network or the clock: callers bring the text, the lists and the features.
import { LineCounter, isMap, isSeq, parseDocument } from 'yaml';
import type { RiskAction, RiskDecision, RiskEvent, RiskEventKind } from './hook.js';
import { featureType, isFeatureName, type FeatureType, type FeatureValue, type FeatureVector } from './rule-features.js';

export const RULE_FILE_VERSION = 1;

/** Every kind of RiskEvent, at run time; the type below fails to compile if hook.ts gains a kind not listed. */
export const RISK_EVENT_KINDS = [
  'signup', 'login', 'factor_change', 'kyc_submit', 'link_start', 'link_complete',
  'charge', 'payment', 'withdrawal', 'profile_change', 'link_unconfirmed',
] as const satisfies readonly RiskEventKind[];
type MissingKinds = Exclude<RiskEventKind, (typeof RISK_EVENT_KINDS)[number]>;
const allKindsListed: [MissingKinds] extends [never] ? true : never = true;
void allKindsListed;

/** Strongest last: the decision takes the strongest enforced action. */
export const RISK_ACTIONS = ['allow', 'challenge', 'review', 'deny'] as const satisfies readonly RiskAction[];
const ACTION_STRENGTH: Record<RiskAction, number> = { allow: 0, challenge: 1, review: 2, deny: 3 };

export const COMPARISON_OPS = ['==', '!=', '>', '>=', '<', '<=', 'in', 'not_in'] as const;
export type ComparisonOp = (typeof COMPARISON_OPS)[number];
const OPS_BY_TYPE: Record<FeatureType, readonly ComparisonOp[]> = {
  number: COMPARISON_OPS,
  string: ['==', '!=', 'in', 'not_in'],
  boolean: ['==', '!='],
};

export type Scalar = number | string | boolean;
export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { feature: string; op: ComparisonOp; value: Scalar | Scalar[] }
  | { feature: string; in_list: string }
  | { feature: string; not_in_list: string };

export type RuleMode = 'enforce' | 'shadow';

export interface Rule {
  id: string;
  description: string;
  events: RiskEventKind[];
  when: Condition;
  action: RiskAction;
  score: number;
  mode: RuleMode;
  rationale: string;
  /**
   * Open an alert for analysts when it fires, whatever the action (`allow` too): "allow but alert" for patterns an
   * honest customer also shows now and then (a first large charge), where a refusal would strand them.
   */
  alert: boolean;
}

export interface RuleSet {
  version: typeof RULE_FILE_VERSION;
  /** The file's own `description`, when it has one. */
  description?: string;
  /** Where the rules came from (a path), for errors and for the decision record. */
  source: string;
  rules: Rule[];
  /** Named lists, entries trimmed and lower-cased. */
  lists: ReadonlyMap<string, ReadonlySet<string>>;
  /** List files read, as the rule file names them (relative to it), so a watcher can reload on their change. */
  listFiles: string[];
}

/** A rule file that cannot be used: names the file, the line when known, the rule when there is one, and why. */
export class RuleFileError extends Error {
  readonly code = 'risk-rule-file-invalid';
  constructor(
    readonly source: string,
    readonly reason: string,
    readonly rule: string | null = null,
    readonly line: number | null = null,
  ) {
    super(`${source}${line === null ? '' : `:${line}`}: ${rule === null ? '' : `rule ${rule}: `}${reason}`);
    this.name = 'RuleFileError';
  }
}

export interface ParseOptions {
  /** A name for errors (the file path). */
  source?: string;
  /** Reads a list file named by `lists.<name>.file`, relative to the rule file; needed only when lists use files. */
  readList?: (file: string) => string;
}

const RULE_KEYS = new Set(['id', 'description', 'events', 'when', 'action', 'score', 'mode', 'rationale', 'alert']);
const TOP_KEYS = new Set(['version', 'description', 'lists', 'rules']);
const ID_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const LIST_NAME_PATTERN = /^[a-z][a-z0-9_]*$/;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const describe = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v);

/** Parses and validates a rule file (YAML; JSON is YAML too). Throws RuleFileError on the first problem. */
export function parseRuleSet(text: string, options: ParseOptions = {}): RuleSet {
  const source = options.source ?? '<rules>';
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const line = yamlError.linePos?.[0].line ?? null;
    throw new RuleFileError(source, `malformed YAML: ${yamlError.message.split('\n')[0]}`, null, line);
  }
  const lineOf = (path: Array<string | number>): number | null => {
    const node = doc.getIn(path, true) as { range?: [number, number, number] } | undefined;
    const offset = node?.range?.[0];
    return offset === undefined ? null : lineCounter.linePos(offset).line;
  };
  const top: unknown = doc.toJS();
  const fail = (reason: string, path: Array<string | number> = []): never => {
    throw new RuleFileError(source, reason, null, path.length ? lineOf(path) : null);
  };
  if (!isRecord(top)) return fail('the file must be a mapping with `version` and `rules`');
  for (const key of Object.keys(top)) if (!TOP_KEYS.has(key)) fail(`unknown top-level key \`${key}\``, [key]);
  if (top.description !== undefined && typeof top.description !== 'string') fail('`description` must be text', ['description']);
  if (top.version !== RULE_FILE_VERSION) fail(`unsupported version ${JSON.stringify(top.version ?? null)}; this koza reads version ${RULE_FILE_VERSION}`, ['version']);

  const listFiles: string[] = [];
  const lists = parseLists(top.lists, { ...options, readList: options.readList && ((file) => (listFiles.push(file), options.readList!(file))) }, fail);
  if (!Array.isArray(top.rules)) return fail('`rules` must be a list', ['rules']);

  const seen = new Map<string, number>();
  const rules = top.rules.map((raw: unknown, index: number): Rule => {
    const path = ['rules', index];
    const ruleName = isRecord(raw) && typeof raw.id === 'string' && raw.id !== '' ? `'${raw.id}' (rules[${index}])` : `rules[${index}]`;
    const bad = (reason: string, at: Array<string | number> = []): never => {
      throw new RuleFileError(source, reason, ruleName, lineOf([...path, ...at]) ?? lineOf(path));
    };
    if (!isRecord(raw)) return bad('a rule must be a mapping');
    for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) bad(`unknown key \`${key}\``, [key]);

    const id = raw.id;
    if (typeof id !== 'string' || !ID_PATTERN.test(id)) return bad('`id` must be kebab-case (a-z, 0-9 and single dashes)', ['id']);
    const firstIndex = seen.get(id);
    if (firstIndex !== undefined) bad(`duplicate id '${id}' (first used by rules[${firstIndex}])`, ['id']);
    seen.set(id, index);

    for (const key of ['description', 'rationale'] as const) {
      const v = raw[key];
      if (typeof v !== 'string' || v.trim() === '') bad(`\`${key}\` must be a non-empty text`, [key]);
    }
    if (!Array.isArray(raw.events) || raw.events.length === 0) return bad('`events` must be a non-empty list of event kinds', ['events']);
    const events = raw.events.map((e: unknown, i: number): RiskEventKind => {
      if (typeof e !== 'string' || !(RISK_EVENT_KINDS as readonly string[]).includes(e)) {
        return bad(`unknown event kind ${JSON.stringify(e)}; expected one of ${RISK_EVENT_KINDS.join(', ')}`, ['events', i]);
      }
      return e as RiskEventKind;
    });
    if (typeof raw.action !== 'string' || !(RISK_ACTIONS as readonly string[]).includes(raw.action)) {
      bad(`unknown action ${JSON.stringify(raw.action ?? null)}; expected one of ${RISK_ACTIONS.join(', ')}`, ['action']);
    }
    const score = raw.score;
    if (typeof score !== 'number' || !Number.isFinite(score) || score < 0 || score > 100) {
      bad(`score ${JSON.stringify(score ?? null)} is out of range; expected a number from 0 to 100`, ['score']);
    }
    const mode = raw.mode ?? 'enforce';
    if (mode !== 'enforce' && mode !== 'shadow') bad(`unknown mode ${JSON.stringify(mode)}; expected enforce or shadow`, ['mode']);
    const alert = raw.alert ?? false;
    if (typeof alert !== 'boolean') bad(`\`alert\` must be true or false, not ${JSON.stringify(alert)}`, ['alert']);
    if (raw.when === undefined) bad('`when` is required');
    const when = parseCondition(raw.when, ['when'], lists, bad);
    return {
      id, description: (raw.description as string).trim(), events, when,
      action: raw.action as RiskAction, score: score as number, mode: mode as RuleMode, rationale: (raw.rationale as string).trim(),
      alert: alert as boolean,
    };
  });
  return {
    version: RULE_FILE_VERSION, ...(typeof top.description === 'string' ? { description: top.description.trim() } : {}),
    source, rules, lists, listFiles,
  };
}

function parseLists(
  raw: unknown, options: ParseOptions, fail: (reason: string, path?: Array<string | number>) => never,
): Map<string, Set<string>> {
  const lists = new Map<string, Set<string>>();
  if (raw === undefined || raw === null) return lists;
  if (!isRecord(raw)) return fail('`lists` must be a mapping of list names', ['lists']);
  for (const [name, spec] of Object.entries(raw)) {
    const at = ['lists', name];
    if (!LIST_NAME_PATTERN.test(name)) fail(`list name '${name}' must be snake_case`, at);
    let entries: unknown[];
    if (isRecord(spec) && typeof spec.file === 'string' && Object.keys(spec).length === 1) {
      if (!options.readList) return fail(`list '${name}' names a file but no file reader was given`, at);
      let text: string;
      try {
        text = options.readList(spec.file);
      } catch (err) {
        return fail(`list '${name}': cannot read ${spec.file}: ${(err as Error).message}`, at);
      }
      entries = text.split(/\r?\n/).map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
    } else if (isRecord(spec) && Array.isArray(spec.values) && Object.keys(spec).length === 1) {
      entries = spec.values;
    } else {
      return fail(`list '${name}' must be { file: <path> } or { values: [...] }`, at);
    }
    const set = new Set<string>();
    for (const e of entries) {
      if (typeof e !== 'string' && typeof e !== 'number') fail(`list '${name}' has a ${describe(e)} entry; entries are texts`, at);
      set.add(String(e).trim().toLowerCase());
    }
    lists.set(name, set);
  }
  return lists;
}

function parseCondition(
  raw: unknown, path: Array<string | number>, lists: ReadonlyMap<string, unknown>,
  bad: (reason: string, at?: Array<string | number>) => never,
): Condition {
  const where = path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1);
  const fail = (reason: string): never => bad(`${where}: ${reason}`, path);
  if (!isRecord(raw)) return fail(`a condition must be a mapping, not ${describe(raw)}`);
  const keys = Object.keys(raw);
  if (keys.length === 1 && (keys[0] === 'all' || keys[0] === 'any')) {
    const key = keys[0];
    const items = raw[key];
    if (!Array.isArray(items) || items.length === 0) return fail(`\`${key}\` must be a non-empty list of conditions`);
    const parsed = items.map((c: unknown, i: number) => parseCondition(c, [...path, key, i], lists, bad));
    return key === 'all' ? { all: parsed } : { any: parsed };
  }
  if (keys.length === 1 && keys[0] === 'not') return { not: parseCondition(raw.not, [...path, 'not'], lists, bad) };

  const feature = raw.feature;
  if (typeof feature !== 'string') return fail(`expected all, any, not or a comparison with \`feature\`; got keys ${keys.join(', ') || '(none)'}`);
  if (!isFeatureName(feature)) {
    return fail(`unknown feature '${feature}' (see docs/risk-rules.md: a listed feature, or a windowed count such as signups_per_ip_6h)`);
  }
  const type = featureType(feature);

  if ('in_list' in raw || 'not_in_list' in raw) {
    const key = 'in_list' in raw ? 'in_list' : 'not_in_list';
    if (keys.length !== 2) return fail(`a list match has exactly \`feature\` and \`${key}\``);
    const list = raw[key];
    if (typeof list !== 'string' || !lists.has(list)) return fail(`unknown list ${JSON.stringify(list)}; declare it under \`lists\``);
    if (type !== 'string') return fail(`feature '${feature}' is a ${type}; list matches need a string feature`);
    return key === 'in_list' ? { feature, in_list: list } : { feature, not_in_list: list };
  }

  for (const k of keys) if (k !== 'feature' && k !== 'op' && k !== 'value') fail(`unknown key \`${k}\` in a comparison`);
  const op = raw.op;
  if (typeof op !== 'string' || !(COMPARISON_OPS as readonly string[]).includes(op)) {
    return fail(`unknown op ${JSON.stringify(op ?? null)}; expected one of ${COMPARISON_OPS.join(' ')}`);
  }
  const compareOp = op as ComparisonOp;
  if (!OPS_BY_TYPE[type].includes(compareOp)) return fail(`op ${op} does not apply to the ${type} feature '${feature}'`);
  const value = raw.value;
  if (compareOp === 'in' || compareOp === 'not_in') {
    if (!Array.isArray(value) || value.length === 0) return fail(`op ${op} needs a non-empty list as value`);
    for (const v of value) if (typeof v !== type) fail(`wrong value type: '${feature}' is a ${type} but the list holds ${describe(v)} ${JSON.stringify(v)}`);
    return { feature, op: compareOp, value: value as Scalar[] };
  }
  if (typeof value !== type) return fail(`wrong value type: '${feature}' is a ${type} but value is ${describe(value)} ${JSON.stringify(value ?? null)}`);
  return { feature, op: compareOp, value: value as Scalar };
}

/** Kleene logic: null is "unknown". A missing or mistyped feature makes its comparison unknown, and only true fires. */
type Truth = boolean | null;

function test(cond: Condition, features: FeatureVector, lists: RuleSet['lists']): Truth {
  if ('all' in cond) {
    let result: Truth = true;
    for (const c of cond.all) {
      const t = test(c, features, lists);
      if (t === false) return false;
      if (t === null) result = null;
    }
    return result;
  }
  if ('any' in cond) {
    let result: Truth = false;
    for (const c of cond.any) {
      const t = test(c, features, lists);
      if (t === true) return true;
      if (t === null) result = null;
    }
    return result;
  }
  if ('not' in cond) {
    const t = test(cond.not, features, lists);
    return t === null ? null : !t;
  }
  const actual: FeatureValue | undefined = features[cond.feature];
  if (actual === undefined || actual === null || typeof actual !== featureType(cond.feature)) return null;
  if (typeof actual === 'number' && !Number.isFinite(actual)) return null;
  if ('in_list' in cond || 'not_in_list' in cond) {
    const listName = 'in_list' in cond ? cond.in_list : cond.not_in_list;
    const found = lists.get(listName)?.has(String(actual).trim().toLowerCase()) ?? false;
    return 'in_list' in cond ? found : !found;
  }
  const { op, value } = cond;
  switch (op) {
    case '==': return actual === value;
    case '!=': return actual !== value;
    case '>': return (actual as number) > (value as number);
    case '>=': return (actual as number) >= (value as number);
    case '<': return (actual as number) < (value as number);
    case '<=': return (actual as number) <= (value as number);
    case 'in': return (value as Scalar[]).includes(actual);
    case 'not_in': return !(value as Scalar[]).includes(actual);
  }
}

export interface RuleHit {
  rule: string;
  text: string;
  action: RiskAction;
  score: number;
  mode: RuleMode;
  /** The rule opens an alert when it fires (an enforced hit does; a shadow hit is only recorded). */
  alert?: true;
}

export interface RuleEvaluation extends RiskDecision {
  /** Enforced rules that fired: these made the action, score and reasons. */
  hits: RuleHit[];
  /** Shadow rules that fired: recorded for analysts and reports, never enforced. */
  shadowHits: RuleHit[];
}

/**
 * Decides one event. Action: the strongest enforced hit (deny > review > challenge > allow), allow when none.
 * Score: the highest enforced hit's score, 0 when none — not a sum, because rules overlap (a sign-up farm trips
 * the 24 h and the 30-day device rules at once) and a sum would count one pattern twice.
 */
export function evaluate(ruleSet: RuleSet, event: Pick<RiskEvent, 'kind'>, features: FeatureVector): RuleEvaluation {
  const hits: RuleHit[] = [];
  const shadowHits: RuleHit[] = [];
  for (const rule of ruleSet.rules) {
    if (!rule.events.includes(event.kind)) continue;
    if (test(rule.when, features, ruleSet.lists) !== true) continue;
    const hit: RuleHit = {
      rule: rule.id, text: rule.description, action: rule.action, score: rule.score, mode: rule.mode, ...(rule.alert ? { alert: true as const } : {}),
    };
    (rule.mode === 'shadow' ? shadowHits : hits).push(hit);
  }
  let action: RiskAction = 'allow';
  let score = 0;
  for (const hit of hits) {
    if (ACTION_STRENGTH[hit.action] > ACTION_STRENGTH[action]) action = hit.action;
    score = Math.max(score, hit.score);
  }
  return {
    action, score, reasons: hits.map(({ rule, text }) => ({ rule, text })), hits, shadowHits,
    ...(hits.some((h) => h.alert) ? { alert: true } : {}),
  };
}

/** The feature names a condition reads, for documentation and for asking the counter store only for what is needed. */
export function featuresRead(cond: Condition, into = new Set<string>()): Set<string> {
  if ('all' in cond) cond.all.forEach((c) => featuresRead(c, into));
  else if ('any' in cond) cond.any.forEach((c) => featuresRead(c, into));
  else if ('not' in cond) featuresRead(cond.not, into);
  else into.add(cond.feature);
  return into;
}
