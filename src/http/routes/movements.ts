// Owns charges (bank → wallet) and withdrawals (wallet → own bank) over HTTP, and operator reconciliation.
// Must never answer before the movement is reserved, nor call the bank inside a database transaction.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireOperator, requireSession } from '../context.js';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { runIdempotent, runIdempotentFlow, type IdempotentResult } from '../idempotency.js';
import { Amount, IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { createError, NotFound } from '../../errors.js';
import type { Yen } from '../../money.js';
import { sendHolderChargeNotice } from '../../banks/holder-charge-notices.js';
import { refreshUnconfirmedLink } from '../../banks/link-state-sync.js';
import {
  callBank, getMovement, listWalletMovements, movementJson, outcomeOf, reserveCharge, reserveWithdrawal, settleMovement,
  type Movement, type MovementDeps,
} from '../../banks/movements.js';
import { answerFor, reconcileOnce, reconcileStatement } from '../../banks/reconciler.js';
import { finishRelease, listHeldMovements, markReleased, rejectHeld } from '../../banks/movement-review.js';

const BanksUnavailable = createError('banks-unavailable', 503, 'No partner-bank connection is configured');
const StatementUnavailable = createError('statement-unavailable', 503, 'The bank did not answer');

export const MovementSchema = Type.Object({
  id: Type.String({ description: 'chg_… or wdl_…; also the reference on the bank statement.' }),
  kind: Type.Union([Type.Literal('charge'), Type.Literal('withdrawal')]),
  wallet_id: Type.String(), link_id: Type.String(), bank_code: Type.String(), amount: Type.Integer(),
  status: Type.Union([Type.Literal('held'), Type.Literal('pending'), Type.Literal('posted'), Type.Literal('voided')], {
    description: 'held while a risk review checks it (the bank is not asked; an analyst releases or rejects it); pending until '
      + 'the bank answers — a time-out leaves it pending until reconciliation settles it from the bank.',
  }),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
  descriptor: Type.String({ description: 'What the holder reads in the passbook: KOZA and the reference.' }),
  created_at: Timestamp, settled_at: Type.Union([Timestamp, Type.Null()]),
});

const MovementBody = Type.Object({
  link_id: Type.String({ pattern: '^lnk_[A-Za-z0-9_-]{1,64}$' }),
  amount: Amount,
  step_up_proof: Type.Optional(Type.String({
    maxLength: 128,
    description: 'When the risk decision asks for a step-up: the proof of a challenge approved for this action, this exact amount and this link (destination = link id).',
  })),
}, { additionalProperties: false });

export function registerMovementRoutes(app: App, ctx: Ctx): void {
  const deps = (): MovementDeps => {
    if (!ctx.banks) throw new BanksUnavailable('Set KOZA_BANK_SANDBOX_URL (and KOZA_BANK_KEY_SEED) to reach partner banks.');
    return { db: ctx.db, config: ctx.config, client: ctx.banks, risk: ctx.risk };
  };

  /** Steps 2 and 3 after the reservation committed: ask the bank, then post, void, or leave pending. */
  const finish = async (movement: Movement) => {
    // Held for review: answered 202 now; the analyst's release asks the bank later.
    if (movement.status === 'held') return { status: 202, body: movementJson(movement) as unknown };
    const d = deps();
    const settled = await settleMovement(d.db, movement.id, outcomeOf(await callBank(d, movement)));
    ctx.metrics.moneyMovements.inc({ code: settled.kind });
    // A follow-up step: the holder's notice never fails the charge; one the bank did not confirm is the reconciler's.
    if (settled.status === 'posted' && settled.kind === 'charge') await sendHolderChargeNotice(d, settled.id).catch(() => false);
    const [status, body] = answerFor(settled);
    return { status, body: JSON.parse(body) as unknown };
  };

  const moneyRoute = (path: '/v1/charges' | '/v1/withdrawals', summary: string, description: string,
    reserve: typeof reserveCharge, beforeReserve?: (d: MovementDeps, walletId: string, linkId: string, amount: number) => Promise<void>) => {
    app.post(path, {
      schema: {
        tags: ['banks'], summary, description,
        security: [{ session: [] }],
        headers: IdempotencyHeaders,
        body: MovementBody,
        response: { 201: MovementSchema, 202: MovementSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429, 503) },
      },
    }, async (request, reply) => {
      const session = await requireSession(ctx, request);
      const d = deps();
      if (beforeReserve) await beforeReserve(d, session.walletId, request.body.link_id, request.body.amount);
      return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, {
        prepare: (tx, key) => reserve(d, tx, {
          walletId: session.walletId, linkId: request.body.link_id, amount: request.body.amount as Yen,
          stepUpProof: request.body.step_up_proof, idempotencyScope: session.walletId, idempotencyKey: key, ip: request.ip,
        }),
        execute: finish,
      });
    });
  };

  moneyRoute('/v1/charges', 'Charge the wallet from a linked bank account',
    'Limits (level, link age / cooling-off, day, month) → risk (may ask for a step-up proof, refuse, or hold the charge '
    + 'for review: 202 with status held) → pending → signed bank debit with descriptor "KOZA <reference>" → posted (201) '
    + 'or voided (422 bank-declined). If the bank does not answer in time the charge stays pending (202) until '
    + 'reconciliation settles it from the bank\'s record.',
    reserveCharge, refreshUnconfirmedLink);
  moneyRoute('/v1/withdrawals', 'Withdraw from the wallet to its own linked bank account',
    'The amount is held (pending) before the bank is asked to pay; posted on the bank\'s answer, released if it declines. '
    + 'A risk review holds it (202, status held) until an analyst releases or rejects it.',
    reserveWithdrawal);

  app.get('/v1/movements', {
    schema: {
      tags: ['banks'], summary: 'The wallet\'s charges and withdrawals, newest first', security: [{ session: [] }],
      response: { 200: Type.Object({ data: Type.Array(MovementSchema) }), ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return { data: (await listWalletMovements(ctx.db, session.walletId, 100)).map(movementJson) };
  });

  app.get('/v1/movements/:id', {
    schema: {
      tags: ['banks'], summary: 'One charge or withdrawal (poll a pending one)', security: [{ session: [] }],
      params: Type.Object({ id: Type.String({ pattern: '^(chg|wdl)_[A-Za-z0-9_-]{1,64}$' }) }),
      response: { 200: MovementSchema, ...problems(400, 401, 404) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const movement = await getMovement(ctx.db, request.params.id);
    if (movement.walletId !== session.walletId) throw new NotFound('The movement does not exist.');
    return movementJson(movement);
  });

  /**
   * An operator's reconciliation run: idempotent under its key; it talks to banks outside any transaction, and a
   * run that fails frees the key, since it leaves nothing another process must finish.
   */
  const operatorRun = async (request: FastifyRequest, reply: FastifyReply, run: (d: MovementDeps) => Promise<IdempotentResult>) => {
    const operator = await requireOperator(ctx, request, ['admin', 'compliance']);
    const d = deps();
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, {
      prepare: async () => undefined, releaseKeyOnFailure: true, execute: () => run(d),
    });
  };

  app.post('/v1/admin/reconciliation/pending', {
    schema: {
      tags: ['operations'], summary: 'Settle movements left pending (crash, bank time-out) from the banks\' records now',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({ grace_seconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })) }, { additionalProperties: false }),
      response: { 200: Type.Object({ settled: Type.Integer(), still_open: Type.Integer() }), ...problems(400, 401, 403, 503) },
    },
  }, async (request, reply) => operatorRun(request, reply, async (d) => {
    const result = await reconcileOnce(d, { graceSeconds: request.body.grace_seconds ?? 15 });
    return { status: 200, body: { settled: result.settled, still_open: result.stillOpen } };
  }));

  app.post('/v1/admin/reconciliation/statements', {
    schema: {
      tags: ['operations'], summary: 'Compare a bank\'s daily statement with the ledger, to the yen',
      security: [{ operatorKey: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({
        bank_code: Type.String({ pattern: '^[0-9]{4}$' }), date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({
          bank_code: Type.String(), date: Type.String(), bank_debits: Type.Integer(), bank_credits: Type.Integer(),
          ledger_debits: Type.Integer(), ledger_credits: Type.Integer(), agrees: Type.Boolean(),
          differences: Type.Array(Type.Object({
            reference: Type.String(), kind: Type.String(),
            bank_amount: Type.Union([Type.Integer(), Type.Null()]), ledger_amount: Type.Union([Type.Integer(), Type.Null()]),
          })),
          pay_ins: Type.Object({
            found: Type.Integer({ description: 'Incoming transfers koza had not been told of (a lost notice), credited or returned now.' }),
            known: Type.Integer({ description: 'Incoming transfers already known from the bank\'s notice.' }),
            returns_agree: Type.Integer(),
            returns_differ: Type.Array(Type.String(), { description: 'Bank transfer ids the bank lists as returned and koza does not.' }),
          }),
        }),
        ...problems(400, 401, 403, 503),
      },
    },
  }, async (request, reply) => operatorRun(request, reply, async (d) => {
    const report = await reconcileStatement(d, request.body.bank_code, request.body.date);
    // No statement is no answer: not kept under the key, so the same retry asks the bank again.
    if (!report) throw new StatementUnavailable('The bank did not answer with its statement; try again.');
    return {
      status: 200,
      body: {
        bank_code: report.bankCode, date: report.date, bank_debits: report.bankDebits, bank_credits: report.bankCredits,
        ledger_debits: report.ledgerDebits, ledger_credits: report.ledgerCredits, agrees: report.differences.length === 0,
        differences: report.differences,
        pay_ins: {
          found: report.payIns.found, known: report.payIns.known, returns_agree: report.payIns.returnsAgree,
          returns_differ: report.payIns.returnsDiffer,
        },
      },
    };
  }));

  const ReviewBody = Type.Object({
    reason: Type.String({ minLength: 3, maxLength: 500, description: 'Why: kept in the audit log and on the alert.' }),
  }, { additionalProperties: false });
  const HeldParams = Type.Object({ id: Type.String({ pattern: '^(chg|wdl)_[A-Za-z0-9_-]{1,64}$' }) });
  const reviewers = ['fraud_analyst', 'compliance', 'admin'] as const;

  app.get('/v1/admin/movements/held', {
    schema: {
      tags: ['risk'], summary: 'Charges and withdrawals a risk review holds, oldest first',
      security: [{ operatorKey: [] }],
      querystring: Type.Object({ limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$' })) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(Type.Intersect([MovementSchema, Type.Object({ risk_decision_id: Type.Union([Type.String(), Type.Null()]) })])) }),
        ...problems(400, 401, 403),
      },
    },
  }, async (request) => {
    await requireOperator(ctx, request, [...reviewers]);
    const limit = Math.min(Number(request.query.limit ?? '100'), 500);
    return { data: (await listHeldMovements(ctx.db, limit)).map((m) => ({ ...movementJson(m), risk_decision_id: m.riskDecisionId })) };
  });

  app.post('/v1/admin/movements/:id/release', {
    schema: {
      tags: ['risk'], summary: 'Release a held charge or withdrawal: the bank is asked now',
      description: 'Resolves its alert as released and audits who and why; the answer is the movement after the bank\'s '
        + 'answer (201 posted, 202 still pending after a bank time-out, 422 declined).',
      security: [{ operatorKey: [] }], headers: IdempotencyHeaders, params: HeldParams, body: ReviewBody,
      response: { 201: MovementSchema, 202: MovementSchema, ...problems(400, 401, 403, 404, 409, 422, 503) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, [...reviewers]);
    const d = deps();
    return runIdempotentFlow(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, {
      prepare: (tx) => markReleased(tx, { movementId: request.params.id, operator, reason: request.body.reason }),
      execute: async (released) => {
        const settled = await finishRelease(d, released);
        const [status, body] = answerFor(settled);
        return { status, body: JSON.parse(body) as unknown };
      },
    });
  });

  app.post('/v1/admin/movements/:id/reject', {
    schema: {
      tags: ['risk'], summary: 'Reject a held charge or withdrawal: nothing moves, the customer is told',
      security: [{ operatorKey: [] }], headers: IdempotencyHeaders, params: HeldParams, body: ReviewBody,
      response: { 200: MovementSchema, ...problems(400, 401, 403, 404, 409, 422) },
    },
  }, async (request, reply) => {
    const operator = await requireOperator(ctx, request, [...reviewers]);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: operator.id }, async (tx) => {
      const rejected = await rejectHeld(tx, ctx.config, { movementId: request.params.id, operator, reason: request.body.reason });
      return { status: 200, body: movementJson(rejected) };
    });
  });
}
