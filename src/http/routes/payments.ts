// Owns payments (wallet → merchant) and refunds (merchant → wallet) over HTTP.
// Must never move money without an Idempotency-Key, nor show a payment to anyone but its two parties.
import { Type } from 'typebox';
import { paymentCashOutFacts } from '../../risk/cash-out-facts.js';
import type { FastifyRequest } from 'fastify';
import type { App, Ctx } from '../context.js';
import { gateOnRisk, PaymentRefused } from '../risk-gate.js';
import { requireMerchant, requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { Amount, IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { getPayment, isTrustedDestination, pay, refund, type Payment, type Refund } from '../../payments/payments.js';
import { getWallet } from '../../wallets/wallets.js';
import { keepingWrites, NotFound } from '../../errors.js';
import { consumeStepUpProof } from '../../identity/step-up.js';
import { assertMovementWithinLimits } from '../../wallets/limits.js';
import type { Yen } from '../../money.js';

export const PaymentSchema = Type.Object({
  id: Type.String(), wallet_id: Type.String(), merchant_id: Type.String(), amount: Type.Integer(),
  refunded_amount: Type.Integer(), description: Type.Union([Type.String(), Type.Null()]), created_at: Timestamp,
});

export function paymentJson(p: Payment) {
  return {
    id: p.id, wallet_id: p.walletId, merchant_id: p.merchantId, amount: p.amount, refunded_amount: p.refundedAmount,
    description: p.description, created_at: p.createdAt.toISOString(),
  };
}

const RefundSchema = Type.Object({
  id: Type.String(), payment_id: Type.String(), amount: Type.Integer(), reason: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
});

function refundJson(r: Refund) {
  return { id: r.id, payment_id: r.paymentId, amount: r.amount, reason: r.reason, created_at: r.createdAt.toISOString() };
}

const PaymentParams = Type.Object({ id: Type.String({ pattern: '^pay_[A-Za-z0-9_-]{1,64}$' }) });

/** The paying wallet (session token) or the receiving merchant (API key) may read a payment. */
async function paymentReader(ctx: Ctx, request: FastifyRequest): Promise<(payment: Payment) => boolean> {
  if (request.headers.authorization?.startsWith('Bearer kzm_')) {
    const merchant = await requireMerchant(ctx, request);
    return (payment) => payment.merchantId === merchant.id;
  }
  const session = await requireSession(ctx, request);
  return (payment) => payment.walletId === session.walletId;
}

export function registerPaymentRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/payments', {
    schema: {
      tags: ['payments'], summary: 'Pay a merchant from the signed-in wallet', security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({
        merchant_id: Type.String({ pattern: '^mer_[A-Za-z0-9_-]{1,64}$' }),
        amount: Amount,
        description: Type.Optional(Type.String({ maxLength: 200 })),
        step_up_proof: Type.Optional(Type.String({
          maxLength: 128,
          description: 'Needed from KOZA_STEP_UP_PAYMENT_FROM yen (default ¥100,000); to a merchant this wallet never paid '
            + 'with a step-up (a new destination) from KOZA_STEP_UP_NEW_DESTINATION_FROM yen (default ¥10,000), once: after '
            + 'one stepped-up payment the merchant is a used destination; and at any amount when the risk '
            + 'check asks for one (403 step-up-required): the proof of a step-up challenge approved for action "payment", this '
            + 'exact amount and this merchant as destination.',
        })),
      }, { additionalProperties: false }),
      response: { 201: PaymentSchema, ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const wallet = await getWallet(tx, session.walletId, true);
      // A checkout cannot wait for an analyst: review refuses the payment (its alert stays open), deny refuses it.
      const trusted = await isTrustedDestination(tx, wallet.id, request.body.merchant_id);
      // A destination the wallet never used is where a stolen session sends money (PSD2 RTS Art. 13 exempts only trusted
      // beneficiaries): a payment there above a small amount needs the owner's second factor, once.
      const newDestination = !trusted && request.body.amount >= ctx.config.stepUpNewDestinationFrom;
      const stepUpAnyway = request.body.amount >= ctx.config.stepUpPaymentFrom || newDestination;
      const risk = await gateOnRisk(ctx, request, tx, {
        kind: 'payment', walletId: wallet.id, amount: request.body.amount,
        // The refused attempt and the retry its approved proof answers are one payment to the risk engine.
        stepUp: {
          action: 'payment', amount: request.body.amount, destination: request.body.merchant_id,
          proof: request.body.step_up_proof, required: stepUpAnyway,
        },
        attributes: { merchant_id: request.body.merchant_id, ...await paymentCashOutFacts(tx, wallet.id, request.body.merchant_id) },
      });
      if (risk.action === 'review') {
        throw new PaymentRefused('This payment needs a check first; nothing was paid. Contact koza support.');
      }
      const stepUp = stepUpAnyway || risk.action === 'challenge';
      if (stepUp) {
        // Limits first, as for withdrawals: a payment that would be refused anyway must not cost the owner an approval.
        await assertMovementWithinLimits(tx, ctx.config.limits[wallet.assuranceLevel], 'payment', wallet.id, request.body.amount);
        // Dynamic linking: the proof names this amount and this merchant, so it cannot be replayed for another. A
        // refusal for a missing or wrong proof keeps the decision: its retry is counted with it, once.
        await keepingWrites(consumeStepUpProof(tx, {
          walletId: wallet.id, proof: request.body.step_up_proof, action: 'payment',
          amount: request.body.amount as Yen, destination: request.body.merchant_id,
        }));
      }
      const payment = await pay(tx, wallet, ctx.config.limits, {
        merchantId: request.body.merchant_id, amount: request.body.amount as Yen, description: request.body.description,
        steppedUp: stepUp,
      }, { newMerchantDays: ctx.config.merchantHoldNewDays, holdDays: ctx.config.merchantHoldDays });
      ctx.metrics.moneyMovements.inc({ code: 'payment' });
      return { status: 201, body: paymentJson(payment) };
    });
  });

  app.get('/v1/payments/:id', {
    schema: {
      tags: ['payments'], summary: 'A payment, for its wallet or its merchant', security: [{ session: [] }, { merchantKey: [] }],
      params: PaymentParams,
      response: { 200: PaymentSchema, ...problems(400, 401, 404) },
    },
  }, async (request) => {
    // Authenticate before the lookup: a 404 to strangers and a 401 for real ids would tell which ids exist.
    const mayRead = await paymentReader(ctx, request);
    const payment = await getPayment(ctx.db, request.params.id);
    if (!mayRead(payment)) throw new NotFound('The payment does not exist.');
    return paymentJson(payment);
  });

  app.post('/v1/payments/:id/refunds', {
    schema: {
      tags: ['payments'], summary: 'Refund part or all of a payment (merchant API key); never above what was paid',
      security: [{ merchantKey: [] }],
      headers: IdempotencyHeaders,
      params: PaymentParams,
      body: Type.Object({
        amount: Amount, reason: Type.Optional(Type.String({ maxLength: 200 })),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ refund: RefundSchema, payment: PaymentSchema }),
        ...problems(400, 401, 404, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const merchant = await requireMerchant(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: merchant.id }, async (tx) => {
      const result = await refund(tx, merchant, {
        paymentId: request.params.id, amount: request.body.amount as Yen, reason: request.body.reason,
      });
      ctx.metrics.moneyMovements.inc({ code: 'refund' });
      return { status: 201, body: { refund: refundJson(result.refund), payment: paymentJson(result.payment) } };
    });
  });
}
