// Owns `koza risk`: the analyst's command line over the risk engine — list and check a rule file, dry-run a candidate
// over recorded decisions, read decisions by key and the alert queue. Must never change a decision, an alert or the
// rules in force, nor print a stack trace for a user's mistake (usage: exit 2; a bad rule file: one line, exit 1).
import type { ParseArgsConfig } from 'node:util';
import { loadConfig } from '../config.js';
import { migrate } from '../store/migrate.js';
import { openConfiguredDb, type Db } from '../store/db.js';
import { listAlerts, listDecisions, type DecisionFilter, type RiskAlert, type StoredDecision } from '../risk/decisions.js';
import { DRY_RUN_MAX_LIMIT, dryRunLimit, dryRunRules, type DryRunOptions, type DryRunSummary } from '../risk/dry-run.js';
import { DEFAULT_RULE_FILE, loadRuleFile } from '../risk/rule-file.js';
import { RISK_ACTIONS, RISK_EVENT_KINDS, RuleFileError, type RuleSet } from '../risk/rules.js';
import type { RiskEventKind } from '../risk/hook.js';
import { alertJson, decisionJson, dryRunJson, rulesJson } from '../risk/json.js';

const OPTIONS = {
  file: { type: 'string' }, json: { type: 'boolean' }, since: { type: 'string' }, until: { type: 'string' },
  limit: { type: 'string' }, event: { type: 'string' }, wallet: { type: 'string' }, device: { type: 'string' },
  ip: { type: 'string' }, account: { type: 'string' }, bank: { type: 'string' }, status: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} satisfies NonNullable<ParseArgsConfig['options']>;

type OptionName = keyof typeof OPTIONS;
type Values = Record<string, string | boolean | undefined>;

class Usage extends Error {}

interface Subcommand {
  options: OptionName[];
  run(values: Values): Promise<number>;
}

const out = (line = '') => process.stdout.write(`${line}\n`);

/** Left-aligned columns, two spaces apart; the last column is not padded. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** The file a command reads: --file, else KOZA_RISK_RULES (the variable koza start reads), else the shipped rules. */
function ruleFileOf(values: Values): string {
  if (typeof values.file === 'string') return values.file;
  const configured = process.env.KOZA_RISK_RULES;
  return configured !== undefined && configured !== '' ? configured : DEFAULT_RULE_FILE;
}

function whole(name: string, raw: string | boolean | undefined, max: number, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw) || n < 1 || n > max) throw new Usage(`--${name} must be a whole number from 1 to ${max}`);
  return n;
}

function time(name: string, raw: string | boolean | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const at = new Date(String(raw));
  if (typeof raw !== 'string' || !/^\d{4}-\d{2}-\d{2}/.test(raw) || Number.isNaN(at.getTime())) {
    throw new Usage(`--${name} must be an ISO 8601 time such as 2026-01-31 or 2026-01-31T09:00:00Z`);
  }
  return at;
}

async function withDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  const db = await openConfiguredDb(loadConfig());
  try {
    await migrate(db);
    return await fn(db);
  } finally {
    await db.close();
  }
}

const iso = (d: Date | null) => (d === null ? '-' : d.toISOString().replace(/\.\d{3}Z$/, 'Z'));
const rulesOf = (d: StoredDecision) => [...d.ruleHits.map((h) => h.rule), ...d.shadowHits.map((h) => `(${h.rule})`)].join(' ') || '-';

function printRules(set: RuleSet): void {
  const shadow = set.rules.filter((r) => r.mode === 'shadow').length;
  out(`${set.source}: version ${set.version}, ${set.rules.length} rules (${set.rules.length - shadow} enforced, ${shadow} shadow)`
    + `${set.lists.size ? `, lists: ${[...set.lists].map(([name, entries]) => `${name} (${entries.size})`).join(', ')}` : ''}`);
  if (set.description) out(set.description);
  out();
  out(table(['ID', 'EVENTS', 'ACTION', 'SCORE', 'MODE', 'DESCRIPTION'],
    set.rules.map((r) => [r.id, r.events.join(','), r.action, String(r.score), r.mode, r.description])));
}

function printDryRun(file: string, s: DryRunSummary): void {
  out(`dry run of ${file}: ${s.replayed} decisions replayed${s.replayed ? ` (${iso(s.first)} to ${iso(s.last)})` : ''}`
    + `${s.truncated ? '; the window held more: only the newest were replayed (raise --limit)' : ''}; ${s.changed} would change`);
  out('features are those recorded with each decision, as they were at the time');
  out();
  out(table(['ACTION', 'BEFORE', 'AFTER', 'DIFF'], RISK_ACTIONS.map((a) => {
    const diff = s.after[a] - s.before[a];
    return [a, String(s.before[a]), String(s.after[a]), diff > 0 ? `+${diff}` : String(diff)];
  })));
  const moves = RISK_ACTIONS.flatMap((b) => RISK_ACTIONS.filter((a) => a !== b && s.changes[b][a] > 0).map((a) => [`${b} -> ${a}`, String(s.changes[b][a])]));
  if (moves.length) {
    out();
    out(table(['CHANGE', 'DECISIONS'], moves));
  }
  out();
  out(table(['RULE', 'MODE', 'ACTION', 'HITS', 'SHADOW HITS', 'RECORDED HITS', 'NOT RECORDED'],
    s.rules.map((r) => [r.rule, r.mode, r.action, String(r.enforcedHits), String(r.shadowHits), String(r.recordedHits), String(r.notRecorded)])));
  const blind = s.rules.filter((r) => r.notRecorded > 0);
  if (blind.length) {
    out('NOT RECORDED: decisions made without a feature the rule reads (not computed at the time), so it could not fire on them:');
    for (const r of blind) out(`  ${r.rule}: ${r.notRecorded} decisions without ${r.missingFeatures.join(', ')}`);
  }
  if (s.samples.length) {
    out();
    out(`changed decisions (${s.samples.length} of ${s.changed}, newest first):`);
    out(table(['DECISION', 'AT', 'EVENT', 'BEFORE', 'AFTER', 'RULES NOW'],
      s.samples.map((x) => [x.id, iso(x.createdAt), x.eventKind, x.before, x.after, x.rulesAfter.join(' ') || '-'])));
  }
}

function printDecisions(items: StoredDecision[]): void {
  if (items.length === 0) {
    out('no decisions');
    return;
  }
  out(table(['AT', 'DECISION', 'EVENT', 'ACTION', 'SCORE', 'WALLET', 'RULES (shadow)'],
    items.map((d) => [iso(d.createdAt), d.id, d.eventKind, d.enforced ? d.action : `${d.action}*`, String(d.score), d.walletId ?? '-', rulesOf(d)])));
  if (items.some((d) => !d.enforced)) out('* recorded only, not enforced');
}

function printAlerts(items: RiskAlert[]): void {
  if (items.length === 0) {
    out('no alerts');
    return;
  }
  out(table(['OPENED', 'ALERT', 'KIND', 'EVENT', 'WALLET', 'RULES', 'ACKNOWLEDGED BY'],
    items.map((a) => [iso(a.createdAt), a.id, a.kind, a.decision.eventKind, a.decision.walletId ?? '-',
      a.decision.ruleHits.map((h) => h.rule).join(' ') || '-', a.acknowledgedBy ? `${a.acknowledgedBy} ${iso(a.acknowledgedAt)}` : '-'])));
}

function decisionFilterOf(values: Values): DecisionFilter {
  const keys = (['wallet', 'device', 'ip', 'account'] as const).filter((k) => values[k] !== undefined);
  if (keys.length !== 1) throw new Usage(`name exactly one of --wallet, --device, --ip or --account${keys.length ? `, not ${keys.map((k) => `--${k}`).join(' and ')}` : ''}`);
  for (const k of keys) if (String(values[k]).trim() === '') throw new Usage(`--${k} needs a value`);
  if (values.bank !== undefined && keys[0] !== 'account') throw new Usage('--bank narrows --account; use it with --account only');
  if (values.bank !== undefined && !/^[0-9]{4}$/.test(String(values.bank))) throw new Usage('--bank must be a 4-digit bank code');
  if (values.wallet !== undefined) return { walletId: String(values.wallet) };
  if (values.device !== undefined) return { deviceKey: String(values.device) };
  if (values.ip !== undefined) return { ip: String(values.ip) };
  return { accountRef: String(values.account), ...(values.bank === undefined ? {} : { bankCode: String(values.bank) }) };
}

function eventKindsOf(raw: string | boolean | undefined): RiskEventKind[] | undefined {
  if (raw === undefined) return undefined;
  const kinds = String(raw).split(',').map((k) => k.trim()).filter(Boolean);
  for (const k of kinds) {
    if (!(RISK_EVENT_KINDS as readonly string[]).includes(k)) throw new Usage(`--event: unknown event kind '${k}' (one of ${RISK_EVENT_KINDS.join(', ')})`);
  }
  if (kinds.length === 0) throw new Usage('--event needs one or more event kinds, comma-separated');
  return kinds as RiskEventKind[];
}

const SUBCOMMANDS: Record<string, Subcommand> = {
  rules: {
    options: ['file', 'json'],
    async run(values) {
      const set = loadRuleFile(ruleFileOf(values));
      if (values.json) out(JSON.stringify(rulesJson(set)));
      else printRules(set);
      return 0;
    },
  },
  check: {
    options: ['file'],
    async run(values) {
      const set = loadRuleFile(ruleFileOf(values));
      const shadow = set.rules.filter((r) => r.mode === 'shadow').length;
      out(`ok: ${set.source}: ${set.rules.length} rules (${set.rules.length - shadow} enforced, ${shadow} shadow), ${set.lists.size} lists`);
      return 0;
    },
  },
  'dry-run': {
    options: ['file', 'since', 'until', 'limit', 'event', 'json'],
    async run(values) {
      if (typeof values.file !== 'string') throw new Usage('--file is required: the candidate rule file to replay');
      const opts: DryRunOptions = {
        since: time('since', values.since), until: time('until', values.until),
        limit: whole('limit', values.limit, DRY_RUN_MAX_LIMIT, 10_000), eventKinds: eventKindsOf(values.event),
      };
      try {
        dryRunLimit(opts);
      } catch (err) {
        if (err instanceof RangeError) throw new Usage(err.message.replace(/\b(since|until|limit)\b/g, '--$1'));
        throw err;
      }
      const candidate = loadRuleFile(values.file);
      const summary = await withDb((db) => dryRunRules(db, candidate, opts));
      if (values.json) out(JSON.stringify(dryRunJson(summary)));
      else printDryRun(candidate.source, summary);
      return 0;
    },
  },
  decisions: {
    options: ['wallet', 'device', 'ip', 'account', 'bank', 'limit', 'json'],
    async run(values) {
      const filter = decisionFilterOf(values);
      const limit = whole('limit', values.limit, 200, 50);
      const page = await withDb((db) => listDecisions(db, filter, { limit }));
      if (values.json) out(JSON.stringify({ data: page.items.map(decisionJson), next_before: page.next }));
      else printDecisions(page.items);
      return 0;
    },
  },
  alerts: {
    options: ['status', 'limit', 'json'],
    async run(values) {
      const status = values.status ?? 'open';
      if (status !== 'open' && status !== 'acknowledged') throw new Usage('--status must be open or acknowledged');
      const limit = whole('limit', values.limit, 200, 50);
      const page = await withDb((db) => listAlerts(db, status, { limit }));
      if (values.json) out(JSON.stringify({ data: page.items.map(alertJson), next_after: page.next }));
      else printAlerts(page.items);
      return 0;
    },
  },
};

export const riskCommand = {
  summary: 'Risk analysts: list or check a rule file, dry-run a candidate over recorded decisions, read decisions and alerts',
  usage: `koza risk <rules|check|dry-run|decisions|alerts> [options]

  rules     [--file F] [--json]         the rules of a file (default: KOZA_RISK_RULES, else the shipped rules)
  check     [--file F]                  validate a rule file only; a bad file names the rule, exit 1
  dry-run   --file F [--since ISO] [--until ISO] [--limit N] [--event KIND,...] [--json]
                                        replay the newest N (default 10000, at most ${DRY_RUN_MAX_LIMIT}) recorded
                                        decisions in [since, until) through the candidate, on the features
                                        recorded with them, and count what would change
  decisions --wallet W | --device D | --ip I | --account REF [--bank CODE] [--limit N] [--json]
                                        decisions for one key, newest first (* = recorded only)
  alerts    [--status open|acknowledged] [--limit N] [--json]
                                        the alert queue, oldest first

  dry-run, decisions and alerts read the configured database (KOZA_DATA or DATABASE_URL).`,
  options: OPTIONS,
  positionals: true,
  async run(values: Values, positionals: string[] = []): Promise<number> {
    const [name, ...extra] = positionals;
    try {
      if (name === undefined) throw new Usage(`name a subcommand: ${Object.keys(SUBCOMMANDS).join(', ')}`);
      const sub = SUBCOMMANDS[name];
      if (!sub) throw new Usage(`unknown subcommand '${name}' (one of ${Object.keys(SUBCOMMANDS).join(', ')})`);
      if (extra.length) throw new Usage(`unexpected argument '${extra[0]}'`);
      for (const [option, value] of Object.entries(values)) {
        if (value !== undefined && option !== 'help' && !sub.options.includes(option as OptionName)) {
          throw new Usage(`--${option} does not apply to 'koza risk ${name}'`);
        }
      }
      return await sub.run(values);
    } catch (err) {
      if (err instanceof Usage) {
        process.stderr.write(`koza: ${err.message}; run 'koza risk --help'\n`);
        return 2;
      }
      if (err instanceof RuleFileError) {
        process.stderr.write(`koza: ${err.message.split('\n')[0]}\n`);
        return 1;
      }
      throw err;
    }
  },
};
