// Owns sandbox-only routes: the development outbox and top-ups from suspense.
// Must never be reachable outside sandbox mode.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { Amount, IdempotencyHeaders, nextCursor, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { SandboxOnly } from '../../errors.js';
import { readOutbox } from '../../identity/outbox.js';
import { getWallet, sandboxTopup } from '../../wallets/wallets.js';
import type { Yen } from '../../money.js';

export function registerSandboxRoutes(app: App, ctx: Ctx): void {
  const assertSandbox = () => {
    if (!ctx.config.sandbox) throw new SandboxOnly('Sandbox routes are disabled (KOZA_SANDBOX=false).');
  };

  app.get('/v1/sandbox/outbox', {
    schema: {
      tags: ['sandbox'], summary: 'Messages koza would have e-mailed or texted (sandbox mode only), newest first',
      querystring: Type.Object({
        recipient: Type.Optional(Type.String({ minLength: 1, maxLength: 254 })),
        limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })),
        cursor: Type.Optional(Type.String({ maxLength: 64 })),
      }, { additionalProperties: false }),
      response: {
        200: pageOf(Type.Object({
          id: Type.String(), channel: Type.String(), recipient: Type.String(), subject: Type.String(), body: Type.String(),
          created_at: Timestamp,
        })),
        ...problems(400, 403),
      },
    },
  }, async (request) => {
    assertSandbox();
    const page = parsePage(request.query);
    const recipient = request.query.recipient?.trim().toLowerCase();
    const rows = await readOutbox(ctx.db, { ...page, ...(recipient ? { recipient } : {}) });
    return {
      data: rows.map((m) => ({ id: m.id, channel: m.channel, recipient: m.recipient, subject: m.subject, body: m.body,
        created_at: m.createdAt.toISOString() })),
      next_cursor: nextCursor(rows, page.limit),
    };
  });

  app.post('/v1/sandbox/topups', {
    schema: {
      tags: ['sandbox'], summary: 'Add money to the signed-in wallet from suspense (sandbox mode only)',
      security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({ amount: Amount }, { additionalProperties: false }),
      response: {
        201: Type.Object({ id: Type.String(), wallet_id: Type.String(), amount: Type.Integer(), created_at: Timestamp }),
        ...problems(400, 401, 403, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    assertSandbox();
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const wallet = await getWallet(tx, session.walletId, true);
      const topup = await sandboxTopup(tx, wallet, ctx.config.limits, request.body.amount as Yen);
      ctx.metrics.moneyMovements.inc({ code: 'topup' });
      return { status: 201, body: { id: topup.id, wallet_id: topup.walletId, amount: topup.amount, created_at: topup.createdAt.toISOString() } };
    });
  });
}
