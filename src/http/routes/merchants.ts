// Owns merchant onboarding (a signed-in L2 owner and a business check), the merchant's own views (balances held and
// available), payouts to the owner's wallet, and the sandbox business register's controls.
// Must never return an API key except in the response that created it, nor pay out to anyone but the verified owner.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireMerchant, requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { Amount, IdempotencyHeaders, nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { type Merchant } from '../../payments/merchants.js';
import { onboardMerchant, type BusinessVerification } from '../../payments/onboard-merchant.js';
import { merchantBalances } from '../../payments/merchant-holds.js';
import { payOut } from '../../payments/payouts.js';
import { listMerchantPayments } from '../../payments/payments.js';
import { NotFound, SandboxOnly } from '../../errors.js';
import type { IdentityVerifier } from '../../identity/verification/verifier.js';
import { IdentityProviderUnavailable } from '../../identity/verification/verify-identity.js';
import { SandboxIdentityProvider, type SandboxBusiness } from '../../sandbox/identity-provider.js';
import type { Yen } from '../../money.js';
import { PaymentSchema, paymentJson } from './payments.js';
import { formatJst } from '../../display.js';

const BusinessKindSchema = Type.Union([Type.Literal('corporation'), Type.Literal('sole_proprietor')]);

export const MerchantSchema = Type.Object({
  id: Type.String(), name: Type.String(), email: Type.String(), created_at: Timestamp,
  owner_wallet_id: Type.Union([Type.String(), Type.Null()], { description: 'Null for a merchant opened before business checks.' }),
  business: Type.Union([Type.Object({
    kind: BusinessKindSchema, registered_name: Type.String(), corporate_number: Type.Union([Type.String(), Type.Null()]),
  }), Type.Null()]),
});

function merchantJson(m: Merchant) {
  return {
    id: m.id, name: m.name, email: m.email, created_at: m.createdAt.toISOString(), owner_wallet_id: m.ownerWalletId,
    business: m.business && {
      kind: m.business.kind, registered_name: m.business.registeredName, corporate_number: m.business.corporateNumber,
    },
  };
}

const BusinessVerificationSchema = Type.Object({
  id: Type.String({ examples: ['bzv_…'] }),
  kind: BusinessKindSchema,
  corporate_number: Type.Union([Type.String(), Type.Null()]),
  status: Type.Union([
    Type.Literal('verified'), Type.Literal('pending_review'), Type.Literal('failed'), Type.Literal('refused'), Type.Literal('pending'),
  ]),
  registered_name: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
});

function verificationJson(v: BusinessVerification) {
  return {
    id: v.id, kind: v.kind, corporate_number: v.corporateNumber, status: v.status, registered_name: v.registeredName,
    created_at: v.createdAt.toISOString(),
  };
}

const BalancesSchema = Type.Object({
  available: Type.Integer({ description: 'Yen the merchant may pay out or refund from now.' }),
  held_total: Type.Integer({ description: 'Yen held because the merchant is new; refunds of held payments come from here.' }),
  held: Type.Array(Type.Object({
    amount: Type.Integer(),
    release_at: Timestamp,
    release_at_jst: Type.String({ examples: ['2026-12-12 21:00 JST'], description: 'The same moment in Japan time.' }),
  }), { description: 'Held yen by release moment, soonest first; the release job moves each within a round of it.' }),
});

/** The sandbox provider in sandbox mode; a real provider adapter (with business verification) otherwise. */
export function registerMerchantRoutes(app: App, ctx: Ctx, verifier: IdentityVerifier | null): void {
  app.post('/v1/merchants', {
    schema: {
      tags: ['merchants'], summary: 'Open a merchant for a verified business; returns its secret API key once',
      description: 'Needs a signed-in wallet at level L2 (identity verified). The identity provider checks the business: a '
        + 'corporation by its 13-digit corporate number (法人番号, check digit first) and registered name, with the owner\'s '
        + 'verified identity as its representative (代表者) — names are never typed for the representative; or a sole '
        + 'proprietor (個人事業主): the owner\'s own verified identity trading under trade_name. One business (one sole '
        + 'proprietorship per person) has one merchant (409 business-already-onboarded). A failed check answers 422 '
        + 'business-check-failed with `reason` business_unknown | name_mismatch | not_representative | declined; a check '
        + 'the provider reviews by hand answers 202 with status pending_review and opens nothing (ask again later with a '
        + 'new Idempotency-Key). The owner is e-mailed either way. The API key is shown in this response only and stored '
        + 'hashed. Payments to a merchant younger than KOZA_MERCHANT_HOLD_NEW_DAYS are held KOZA_MERCHANT_HOLD_DAYS days.',
      security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200, description: 'The name customers see.' }),
        email: Type.Optional(Type.String({ minLength: 3, maxLength: 254, description: 'Contact address; the owner\'s by default.' })),
        business: Type.Union([
          Type.Object({
            kind: Type.Literal('corporation'),
            corporate_number: Type.String({ pattern: '^[0-9]{13}$', examples: ['7000012050002'] }),
            registered_name: Type.String({ minLength: 1, maxLength: 200, description: 'As registered (商号), e.g. 株式会社佐藤商店.' }),
          }, { additionalProperties: false }),
          Type.Object({
            kind: Type.Literal('sole_proprietor'),
            trade_name: Type.String({ minLength: 1, maxLength: 200, description: 'The trade name (屋号) the owner trades under.' }),
          }, { additionalProperties: false }),
        ]),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ merchant: MerchantSchema, api_key: Type.String(), business_verification: BusinessVerificationSchema }),
        202: Type.Object({ status: Type.Literal('pending_review'), business_verification: BusinessVerificationSchema }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    if (!verifier) throw new IdentityProviderUnavailable('No identity-verification provider is configured.');
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      const { body } = request;
      const result = await onboardMerchant(tx, { secretKey: ctx.config.secretKey, verifier }, {
        walletId: session.walletId, name: body.name, email: body.email,
        business: body.business.kind === 'corporation'
          ? { kind: 'corporation', corporateNumber: body.business.corporate_number, registeredName: body.business.registered_name }
          : { kind: 'sole_proprietor', tradeName: body.business.trade_name },
      });
      if (result.status === 'pending_review') {
        return { status: 202, body: { status: 'pending_review' as const, business_verification: verificationJson(result.verification) } };
      }
      return {
        status: 201,
        body: { merchant: merchantJson(result.merchant), api_key: result.apiKey, business_verification: verificationJson(result.verification) },
      };
    });
  });

  app.get('/v1/merchant', {
    schema: {
      tags: ['merchants'], summary: 'The calling merchant and its balance', security: [{ merchantKey: [] }],
      response: {
        200: Type.Object({
          merchant: MerchantSchema,
          balance: Type.Integer({ description: 'Everything the merchant was paid and still holds: available + held.' }),
          available: Type.Integer(), held: Type.Integer(),
        }),
        ...problems(401),
      },
    },
  }, async (request) => {
    const merchant = await requireMerchant(ctx, request);
    const b = await merchantBalances(ctx.db, merchant);
    return { merchant: merchantJson(merchant), balance: b.available + b.heldTotal, available: b.available, held: b.heldTotal };
  });

  app.get('/v1/merchants/me/balances', {
    schema: {
      tags: ['merchants'], summary: 'The calling merchant\'s available balance and its held payments with their release dates',
      security: [{ merchantKey: [] }],
      response: { 200: BalancesSchema, ...problems(401) },
    },
  }, async (request) => {
    const merchant = await requireMerchant(ctx, request);
    const b = await merchantBalances(ctx.db, merchant);
    return {
      available: b.available, held_total: b.heldTotal,
      held: b.held.map((h) => ({ amount: h.amount, release_at: h.releaseAt.toISOString(), release_at_jst: formatJst(h.releaseAt) })),
    };
  });

  app.post('/v1/merchants/me/payouts', {
    schema: {
      tags: ['merchants'], summary: 'Pay out available balance to the owner\'s koza wallet (one ledger transfer)',
      description: 'Moves `amount` yen of the available balance (never held money) into the wallet of the merchant\'s verified '
        + 'owner, who then withdraws to a linked bank account through the normal, limited, stepped-up withdrawal. 422 '
        + 'merchant-funds-too-low names what is available and when held payments are released (JST); 422 limit-exceeded when '
        + 'the owner\'s wallet would hold more than its level allows; 409 merchant-has-no-owner for a merchant opened before '
        + 'business checks. The owner is e-mailed.',
      security: [{ merchantKey: [] }],
      headers: IdempotencyHeaders,
      body: Type.Object({ amount: Amount }, { additionalProperties: false }),
      response: {
        201: Type.Object({ id: Type.String({ examples: ['pyo_…'] }), merchant_id: Type.String(), wallet_id: Type.String(), amount: Type.Integer(), created_at: Timestamp }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const merchant = await requireMerchant(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: merchant.id }, async (tx) => {
      const payout = await payOut(tx, merchant, ctx.config.limits, request.body.amount as Yen);
      ctx.metrics.moneyMovements.inc({ code: 'payout' });
      return {
        status: 201,
        body: { id: payout.id, merchant_id: payout.merchantId, wallet_id: payout.walletId, amount: payout.amount, created_at: payout.createdAt.toISOString() },
      };
    });
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

  registerSandboxBusinessRoutes(app, ctx, verifier instanceof SandboxIdentityProvider ? verifier : null);
}

const BusinessBehaviourSchema = Type.Union([Type.Literal('pass'), Type.Literal('fail'), Type.Literal('pending_review')]);

function sandboxBusinessJson({ corporation, behaviour }: SandboxBusiness) {
  return {
    corporate_number: corporation.corporateNumber, registered_name: corporation.registeredName,
    representative: {
      name_kanji: corporation.representative.nameKanji, name_kana: corporation.representative.nameKana,
      date_of_birth: corporation.representative.dateOfBirth,
    },
    representative_index: corporation.representativeIndex, behaviour,
  };
}

const SandboxBusinessSchema = Type.Object({
  corporate_number: Type.String(), registered_name: Type.String(),
  representative: Type.Object({ name_kanji: Type.String(), name_kana: Type.String(), date_of_birth: Type.String() }),
  representative_index: Type.Union([Type.Integer(), Type.Null()], {
    description: 'The sandbox person (GET /v1/sandbox/identities) who represents it; null for a representative the sandbox eKYC does not know.',
  }),
  behaviour: BusinessBehaviourSchema,
});

function registerSandboxBusinessRoutes(app: App, ctx: Ctx, provider: SandboxIdentityProvider | null): void {
  const sandbox = (): SandboxIdentityProvider => {
    if (!ctx.config.sandbox || !provider) throw new SandboxOnly('Sandbox routes are disabled (KOZA_SANDBOX=false).');
    return provider;
  };

  app.get('/v1/sandbox/businesses', {
    schema: {
      tags: ['sandbox'], summary: 'The sandbox commercial register the business check reads (sandbox mode only)',
      description: 'Corporations drawn from the population seed; most are represented by a sandbox person, who can verify '
        + 'as themselves and then open the corporation\'s merchant.',
      querystring: Type.Object({
        limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 100; default 20.' })),
        offset: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,5})$' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(SandboxBusinessSchema), next_offset: Type.Union([Type.Integer(), Type.Null()]) }),
        ...problems(400, 403),
      },
    },
  }, async (request) => {
    const register = sandbox();
    const limit = Math.min(Number(request.query.limit ?? 20), 100);
    const offset = Number(request.query.offset ?? 0);
    return {
      data: register.listBusinesses(offset, limit).map(sandboxBusinessJson),
      next_offset: offset + limit < register.businessCount ? offset + limit : null,
    };
  });

  app.put('/v1/sandbox/businesses/:number/behaviour', {
    schema: {
      tags: ['sandbox'], summary: 'Tell the sandbox what to answer to a business check (sandbox mode only)',
      description: 'number: a corporate number (13 digits), or a sandbox person\'s document number (12 digits) for that '
        + 'person\'s sole proprietorship. pass (default; name and representative are still checked), fail (declined) or '
        + 'pending_review. Idempotent by itself (PUT); held by the running process.',
      params: Type.Object({ number: Type.String({ pattern: '^[0-9]{12,13}$' }) }),
      body: Type.Object({ outcome: BusinessBehaviourSchema }, { additionalProperties: false }),
      response: { 200: Type.Object({ number: Type.String(), behaviour: BusinessBehaviourSchema }), ...problems(400, 403, 404, 413, 415) },
    },
  }, async (request) => {
    const register = sandbox();
    if (!register.setBusinessBehaviour(request.params.number, request.body.outcome)) {
      throw new NotFound('The sandbox holds no business or person with this number.');
    }
    return { number: request.params.number, behaviour: register.businessBehaviourOf(request.params.number) };
  });
}
