// Owns the operator routes for kill switches, wallet freezes and the audit log (SPEC §8.1, §8.5).
// Must never change a control without an operator of the right role and a reason.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireOperator } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { listControls, setControl, setWalletFrozen, type ControlState } from '../../operations/controls.js';
import { listAudit, verifyAuditChain } from '../../operations/audit.js';

const Reason = Type.String({ minLength: 3, maxLength: 500, description: 'Why: kept in the audit log with who and when.' });
const BankCode = Type.String({ pattern: '^[0-9]{4}$' });

const ControlSchema = Type.Object({
  kind: Type.Union([Type.Literal('links_halted'), Type.Literal('charges_halted')]),
  scope: Type.String({ description: "'global' or 'bank:<code>'" }),
  active: Type.Boolean(), reason: Type.String(), changed_by: Type.String(), changed_at: Timestamp,
});

function controlJson(c: ControlState) {
  return { kind: c.kind, scope: c.scope, active: c.active, reason: c.reason, changed_by: c.changedBy, changed_at: c.changedAt.toISOString() };
}

const AuditSchema = Type.Object({
  seq: Type.Integer(), at: Timestamp, actor: Type.String(), action: Type.String(), target: Type.String(),
  reason: Type.String(), detail: Type.Record(Type.String(), Type.Unknown()), prev_hash: Type.String(), hash: Type.String(),
});

export function registerAdminRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/admin/controls', {
    schema: {
      tags: ['operations'], summary: 'Set a kill switch: halt new links (global or per bank) or charges (per bank)',
      description: 'Existing links keep charging while new links are halted. Needs the admin role; audited.',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      body: Type.Union([
        Type.Object({ kind: Type.Literal('links_halted'), bank_code: Type.Union([BankCode, Type.Null()]), active: Type.Boolean(), reason: Reason },
          { additionalProperties: false }),
        Type.Object({ kind: Type.Literal('charges_halted'), bank_code: BankCode, active: Type.Boolean(), reason: Reason },
          { additionalProperties: false }),
      ]),
      response: { 200: ControlSchema, ...problems(400, 401, 403, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, ['admin']);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, async (tx) => {
      const state = await setControl(tx, operator, {
        kind: request.body.kind, bankCode: request.body.bank_code, active: request.body.active, reason: request.body.reason,
      });
      return { status: 200, body: controlJson(state) };
    });
  });

  app.get('/v1/admin/controls', {
    schema: {
      tags: ['operations'], summary: 'Every kill switch and its state', security: [{ operatorKey: [] }],
      response: { 200: Type.Object({ data: Type.Array(ControlSchema) }), ...problems(401, 403) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ['support', 'fraud_analyst', 'compliance', 'admin']);
    return { data: (await listControls(ctx.db)).map(controlJson) };
  });

  app.post('/v1/admin/wallets/:id/freeze', {
    schema: {
      tags: ['operations'], summary: 'Freeze or unfreeze a wallet (no money moves while frozen)',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      params: Type.Object({ id: Type.String({ pattern: '^wal_[A-Za-z0-9_-]{1,64}$' }) }),
      body: Type.Object({ frozen: Type.Boolean(), reason: Reason }, { additionalProperties: false }),
      response: { 200: Type.Object({ wallet_id: Type.String(), status: Type.String() }), ...problems(400, 401, 403, 404, 413, 415, 429) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, ['admin', 'fraud_analyst']);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, async (tx) => {
      const result = await setWalletFrozen(tx, operator, { walletId: request.params.id, frozen: request.body.frozen, reason: request.body.reason });
      return { status: 200, body: { wallet_id: result.walletId, status: result.status } };
    });
  });

  app.get('/v1/admin/audit', {
    schema: {
      tags: ['operations'], summary: 'The audit log, newest first', security: [{ operatorKey: [] }],
      querystring: PageQuery,
      response: { 200: pageOf(AuditSchema), ...problems(400, 401, 403) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ['admin', 'compliance']);
    const page = parsePage(request.query);
    const rows = await listAudit(ctx.db, page);
    return {
      data: rows.map((e) => ({ seq: e.seq, at: e.at.toISOString(), actor: e.actor, action: e.action, target: e.target,
        reason: e.reason, detail: e.detail, prev_hash: e.prevHash, hash: e.hash })),
      next_cursor: nextCursor(rows, page.limit),
    };
  });

  app.get('/v1/admin/audit/verify', {
    schema: {
      tags: ['operations'], summary: 'Verify the audit hash chain; names the first broken row', security: [{ operatorKey: [] }],
      response: { 200: Type.Object({ checked: Type.Integer(), intact: Type.Boolean(), first_broken_seq: Type.Union([Type.Integer(), Type.Null()]) }), ...problems(401, 403) },
    },
  }, async (request) => {
    await requireOperator(ctx, request, ['admin', 'compliance']);
    const result = await verifyAuditChain(ctx.db);
    return { checked: result.checked, intact: result.firstBroken === null, first_broken_seq: result.firstBroken };
  });
}
