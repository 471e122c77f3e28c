// Owns the analyst routes over the risk engine (SPEC §7): decisions by wallet, device, IP or bank account, the
// alert queue, the rules in force and a dry run of candidate rules. Must never show them to anyone but a
// fraud analyst, compliance or an admin, nor change the rules in force (a dry run only reads).
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireOperator } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { createError, InvalidRequest, NotFound } from '../../errors.js';
import type { OperatorRole } from '../../operations/operators.js';
import { getDecision, listAlerts, listDecisions, type DecisionFilter, type RiskAlert, type StoredDecision } from '../../risk/decisions.js';
import { acknowledgeAlertAs } from '../../risk/acknowledge-alert.js';
import { DRY_RUN_MAX_LIMIT, dryRunLimit, dryRunRules, type DryRunSummary } from '../../risk/dry-run.js';
import { DEFAULT_RULE_FILE, parseRuleText } from '../../risk/rule-file.js';
import { alertJson, decisionJson, dryRunJson, rulesJson } from '../../risk/json.js';
import { featuresRead, RISK_ACTIONS, RISK_EVENT_KINDS, RuleFileError, type RuleSet } from '../../risk/rules.js';
import { dirname } from 'node:path';

const ANALYSTS: OperatorRole[] = ['fraud_analyst', 'compliance', 'admin'];

export const RuleFileInvalid = createError<{ rule: string | null; line: number | null; reason: string }>(
  'risk-rule-file-invalid', 422, 'The rule file is not valid');

const Action = Type.Enum(RISK_ACTIONS);
const EventKind = Type.Enum(RISK_EVENT_KINDS);
const Mode = Type.Union([Type.Literal('enforce'), Type.Literal('shadow')]);
const Key = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 200, description }));
const Seq = (description: string) => Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,15}$', description }));
const Limit = Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 200; default 50.' }));

const RuleHitSchema = Type.Object({
  rule: Type.String(), text: Type.String(),
  action: Type.Optional(Action), score: Type.Optional(Type.Number()), mode: Type.Optional(Mode),
  alert: Type.Optional(Type.Literal(true, { description: 'The rule opens an alert even when it allows.' })),
}, { additionalProperties: false });

const DecisionSchema = Type.Object({
  id: Type.String(), seq: Type.Integer(), event_kind: EventKind,
  wallet_id: Type.Union([Type.String(), Type.Null()]), device_key: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]), bank_code: Type.Union([Type.String(), Type.Null()]),
  account_ref: Type.Union([Type.String(), Type.Null()]),
  action: Action, score: Type.Integer(), enforced: Type.Boolean({ description: 'false: recorded only; the flow went on as if allowed.' }),
  rule_hits: Type.Array(RuleHitSchema), shadow_hits: Type.Array(RuleHitSchema),
  features: Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]), {
    description: 'The features the decision was made on, as they were at the time.',
  }),
  created_at: Timestamp,
}, { additionalProperties: false });

const AlertSchema = Type.Object({
  id: Type.String(), seq: Type.Integer(), kind: Type.Union([Type.Literal('review'), Type.Literal('deny'), Type.Literal('alert')], { description: 'alert: allowed, but a rule with alert: true fired.' }),
  status: Type.Union([Type.Literal('open'), Type.Literal('acknowledged')]), created_at: Timestamp,
  acknowledged_at: Type.Union([Timestamp, Type.Null()]), acknowledged_by: Type.Union([Type.String(), Type.Null()]),
  resolution: Type.Union([Type.Literal('released'), Type.Literal('rejected'), Type.Null()]),
  note: Type.Union([Type.String(), Type.Null()]),
  decision: DecisionSchema,
}, { additionalProperties: false });

const RuleSchema = Type.Object({
  id: Type.String(), description: Type.String(), events: Type.Array(EventKind),
  when: Type.Unknown({ description: 'The condition, as in the rule file (docs/risk-rules.md).' }),
  features: Type.Array(Type.String(), { description: 'The feature names the condition reads.' }),
  action: Action, score: Type.Number(), mode: Mode, rationale: Type.String(),
  alert: Type.Optional(Type.Boolean({ description: 'Opens an alert for analysts whenever it fires, even when the action is allow.' })),
}, { additionalProperties: false });

const RulesSchema = Type.Union([
  Type.Object({
    engine: Type.Literal('on'), version: Type.Integer(), description: Type.Union([Type.String(), Type.Null()]),
    source: Type.String({ description: 'The rule file in force.' }),
    lists: Type.Array(Type.Object({ name: Type.String(), entries: Type.Integer() }, { additionalProperties: false })),
    rules: Type.Array(RuleSchema),
  }, { additionalProperties: false }),
  Type.Object({
    engine: Type.Literal('off'), detail: Type.String(),
  }, { additionalProperties: false }),
]);

const Counts = Type.Object({ allow: Type.Integer(), challenge: Type.Integer(), review: Type.Integer(), deny: Type.Integer() },
  { additionalProperties: false });

const DryRunSchema = Type.Object({
  replayed: Type.Integer(),
  truncated: Type.Boolean({ description: 'The window held more decisions than the limit: only the newest were replayed.' }),
  first: Type.Union([Timestamp, Type.Null()]), last: Type.Union([Timestamp, Type.Null()]),
  before: Counts, after: Counts,
  changes: Type.Object({ allow: Counts, challenge: Counts, review: Counts, deny: Counts }, {
    additionalProperties: false, description: 'changes[before][after]: decisions that went from one action to the other.',
  }),
  changed: Type.Integer(),
  rules: Type.Array(Type.Object({
    rule: Type.String(), mode: Mode, action: Action, enforced_hits: Type.Integer(), shadow_hits: Type.Integer(),
    recorded_hits: Type.Integer({ description: 'Hits of a rule with this id in the recorded decisions.' }),
    not_recorded: Type.Integer({
      description: 'Decisions of its events recorded without a feature it reads (never computed then): it could not fire on them.',
    }),
    missing_features: Type.Array(Type.String()),
  }, { additionalProperties: false })),
  samples: Type.Array(Type.Object({
    id: Type.String(), event_kind: EventKind, wallet_id: Type.Union([Type.String(), Type.Null()]), created_at: Timestamp,
    before: Action, after: Action, rules_before: Type.Array(Type.String()), rules_after: Type.Array(Type.String()),
  }, { additionalProperties: false }), { description: 'Up to 20 decisions whose action changed, newest first.' }),
}, { additionalProperties: false });

/** The one key a decision query names; anything else is the client's mistake. */
function decisionFilter(query: { wallet_id?: string; device_key?: string; ip?: string; account_ref?: string; bank_code?: string }): DecisionFilter {
  const given = (['wallet_id', 'device_key', 'ip', 'account_ref'] as const).filter((k) => query[k] !== undefined);
  if (given.length !== 1) {
    throw new InvalidRequest(`Name exactly one of wallet_id, device_key, ip or account_ref${given.length ? `, not ${given.join(' and ')}` : ''}.`);
  }
  if (query.bank_code !== undefined && given[0] !== 'account_ref') throw new InvalidRequest('bank_code narrows account_ref; send it with account_ref only.');
  if (query.wallet_id !== undefined) return { walletId: query.wallet_id };
  if (query.device_key !== undefined) return { deviceKey: query.device_key };
  if (query.ip !== undefined) return { ip: query.ip };
  return { accountRef: query.account_ref!, ...(query.bank_code === undefined ? {} : { bankCode: query.bank_code }) };
}

function pageLimit(raw: string | undefined): number {
  const limit = raw === undefined ? 50 : Number(raw);
  if (limit > 200) throw new InvalidRequest('limit must be between 1 and 200.');
  return limit;
}

function parseTime(name: string, raw: string | undefined): Date | undefined {
  if (raw === undefined) return undefined;
  const at = new Date(raw);
  if (Number.isNaN(at.getTime())) throw new InvalidRequest(`${name} must be an ISO 8601 time such as 2026-01-31T00:00:00Z.`);
  return at;
}

/** Candidate text → a rule set; a bad file is a 422 naming the rule, the line and the reason. */
function parseCandidate(ctx: Ctx, text: string): RuleSet {
  try {
    // Lists named by `file:` resolve beside the rule file in force (the shipped lists/ by default).
    return parseRuleText(text, { source: 'candidate', listDir: dirname(ctx.config.riskRulesFile ?? DEFAULT_RULE_FILE) });
  } catch (err) {
    if (!(err instanceof RuleFileError)) throw err;
    throw new RuleFileInvalid(err.message, { rule: err.rule, line: err.line, reason: err.reason });
  }
}

export function registerRiskRoutes(app: App, ctx: Ctx): void {
  app.get('/v1/admin/risk/decisions', {
    schema: {
      tags: ['risk'], summary: 'Risk decisions for one wallet, device, IP or bank account, newest first',
      description: 'Exactly one of wallet_id, device_key, ip or account_ref (bank_code narrows account_ref to one bank). '
        + 'Each decision carries the features it was made on and the rules that hit, enforced and in shadow mode.',
      security: [{ operatorKey: [] }],
      querystring: Type.Object({
        wallet_id: Key('A wallet id (wal_…).'), device_key: Key('A client device key.'), ip: Key('An IP address.'),
        account_ref: Key('A bank account reference.'), bank_code: Type.Optional(Type.String({ pattern: '^[0-9]{4}$' })),
        before: Seq('next_before from the previous page.'), limit: Limit,
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(DecisionSchema), next_before: Type.Union([Type.Integer(), Type.Null()]) }, { additionalProperties: false }),
        ...problems(400, 401, 403),
      },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ANALYSTS);
    const filter = decisionFilter(request.query);
    const page = await listDecisions(ctx.db, filter, {
      limit: pageLimit(request.query.limit), ...(request.query.before === undefined ? {} : { before: Number(request.query.before) }),
    });
    return { data: page.items.map(decisionJson), next_before: page.next };
  });

  app.get('/v1/admin/risk/decisions/:id', {
    schema: {
      tags: ['risk'], summary: 'One risk decision with its features and rule hits', security: [{ operatorKey: [] }],
      params: Type.Object({ id: Type.String({ pattern: '^rsk_[A-Za-z0-9_-]{1,64}$' }) }, { additionalProperties: false }),
      response: { 200: DecisionSchema, ...problems(400, 401, 403, 404) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ANALYSTS);
    const decision = await getDecision(ctx.db, request.params.id);
    if (!decision) throw new NotFound('No such risk decision.');
    return decisionJson(decision);
  });

  app.get('/v1/admin/risk/alerts', {
    schema: {
      tags: ['risk'], summary: 'The risk alert queue (review and deny decisions, and allowed ones a rule with alert: true flagged), oldest first',
      security: [{ operatorKey: [] }],
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal('open'), Type.Literal('acknowledged')], { description: 'Default open.' })),
        after: Seq('next_after from the previous page.'), limit: Limit,
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(AlertSchema), next_after: Type.Union([Type.Integer(), Type.Null()]) }, { additionalProperties: false }),
        ...problems(400, 401, 403),
      },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ANALYSTS);
    const page = await listAlerts(ctx.db, request.query.status ?? 'open', {
      limit: pageLimit(request.query.limit), ...(request.query.after === undefined ? {} : { after: Number(request.query.after) }),
    });
    return { data: page.items.map(alertJson), next_after: page.next };
  });

  app.post('/v1/admin/risk/alerts/:id/acknowledge', {
    schema: {
      tags: ['risk'], summary: 'Acknowledge a risk alert: it leaves the open queue; audited',
      description: 'Acknowledging again as the same operator returns the alert; another operator\'s acknowledgement is a 409.',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      params: Type.Object({ id: Type.String({ pattern: '^alr_[A-Za-z0-9_-]{1,64}$' }) }, { additionalProperties: false }),
      body: Type.Object({
        note: Type.Optional(Type.String({ minLength: 1, maxLength: 1000, description: 'Kept on the alert and in the audit log.' })),
      }, { additionalProperties: false }),
      response: { 200: AlertSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, ANALYSTS);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, async (tx) => {
      const alert = await acknowledgeAlertAs(tx, operator, request.params.id, request.body.note);
      return { status: 200, body: alertJson(alert) };
    });
  });

  app.get('/v1/admin/risk/rules', {
    schema: {
      tags: ['risk'], summary: 'The risk rules in force (or that the engine is off)', security: [{ operatorKey: [] }],
      response: { 200: RulesSchema, ...problems(401, 403) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ANALYSTS);
    if (!ctx.rules) {
      return { engine: 'off' as const, detail: 'The risk engine is off (KOZA_RISK_ENGINE=false or the legacy-2020 policy): every event is allowed.' };
    }
    return rulesJson(ctx.rules());
  });

  app.post('/v1/admin/risk/rules/dry-run', {
    schema: {
      tags: ['risk'], summary: 'Replay recorded decisions through a candidate rule file and count what would change',
      description: 'Re-decides each recorded decision in the window (newest first, up to limit) on the features stored with it — '
        + 'the features as they were at the time — and reports actions before and after, per-rule hits and samples. Changes nothing.',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({
        rules: Type.String({ minLength: 1, maxLength: 1_000_000, description: 'The YAML or JSON text of a candidate rule file.' }),
        since: Type.Optional(Type.String({ format: 'date-time', description: 'Decisions made at or after this time.' })),
        until: Type.Optional(Type.String({ format: 'date-time', description: 'Decisions made before this time.' })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: DRY_RUN_MAX_LIMIT, description: 'Default 10000.' })),
        event_kinds: Type.Optional(Type.Array(EventKind, { minItems: 1, maxItems: RISK_EVENT_KINDS.length, uniqueItems: true })),
      }, { additionalProperties: false }),
      response: { 200: DryRunSchema, ...problems(400, 401, 403, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, ANALYSTS);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, async (tx) => {
      const candidate = parseCandidate(ctx, request.body.rules);
      const opts = {
        since: parseTime('since', request.body.since), until: parseTime('until', request.body.until),
        limit: request.body.limit, eventKinds: request.body.event_kinds,
      };
      try {
        dryRunLimit(opts);
      } catch (err) {
        if (err instanceof RangeError) throw new InvalidRequest(`${err.message}.`);
        throw err;
      }
      return { status: 200, body: dryRunJson(await dryRunRules(tx, candidate, opts)) };
    });
  });
}
