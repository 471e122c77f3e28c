// Owns merchant onboarding and the merchant's own views.
// Must never return an API key except in the response that created it.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireMerchant } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { createMerchant, type Merchant } from '../../payments/merchants.js';
import { listMerchantPayments } from '../../payments/payments.js';
import { getBalance } from '../../ledger/ledger.js';
import { PaymentSchema, paymentJson } from './payments.js';

export const MerchantSchema = Type.Object({ id: Type.String(), name: Type.String(), email: Type.String(), created_at: Timestamp });

function merchantJson(m: Merchant) {
  return { id: m.id, name: m.name, email: m.email, created_at: m.createdAt.toISOString() };
}

export function registerMerchantRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/merchants', {
    schema: {
      tags: ['merchants'], summary: 'Onboard a merchant; returns its secret API key once',
      headers: IdempotencyHeaders,
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200 }), email: Type.String({ minLength: 3, maxLength: 254 }),
      }, { additionalProperties: false }),
      response: { 201: Type.Object({ merchant: MerchantSchema, api_key: Type.String() }), ...problems(400, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
    { scope: 'public:merchants', sensitive: true },
    async (tx) => {
      const { merchant, apiKey } = await createMerchant(tx, request.body);
      return { status: 201, body: { merchant: merchantJson(merchant), api_key: apiKey } };
    }));

  app.get('/v1/merchant', {
    schema: {
      tags: ['merchants'], summary: 'The calling merchant and its balance', security: [{ merchantKey: [] }],
      response: { 200: Type.Object({ merchant: MerchantSchema, balance: Type.Integer() }), ...problems(401) },
    },
  }, async (request) => {
    const merchant = await requireMerchant(ctx, request);
    const b = await getBalance(ctx.db, merchant.ledgerAccountId);
    return { merchant: merchantJson(merchant), balance: b.creditsPosted - b.debitsPosted };
  });

  app.get('/v1/merchant/payments', {
    schema: {
      tags: ['merchants'], summary: 'Payments the calling merchant received, newest first', security: [{ merchantKey: [] }],
      querystring: PageQuery,
      response: { 200: pageOf(PaymentSchema), ...problems(400, 401) },
    },
  }, async (request) => {
    const merchant = await requireMerchant(ctx, request);
    const page = parsePage(request.query);
    const rows = await listMerchantPayments(ctx.db, merchant, page);
    return { data: rows.map(paymentJson), next_cursor: nextCursor(rows, page.limit) };
  });
}
