// Owns the wallet's own routes: who am I, balance, history, changing the e-mail address.
// Must never show one wallet's data to another's session, nor change the address without the new mailbox's code.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp, IdempotencyHeaders } from '../schemas.js';
import { getWallet, walletBalance, walletHistory, type Wallet } from '../../wallets/wallets.js';
import { runIdempotent } from '../idempotency.js';
import { gateOnRisk } from '../risk-gate.js';
import { confirmEmailChange, startEmailChange } from '../../identity/email-change.js';
import { sandboxSmsSender } from '../../identity/sms.js';
import { contactChangeHold } from './phone.js';
import { stepUpProofField } from './factors.js';

export const WalletSchema = Type.Object({
  id: Type.String({ examples: ['wal_…'] }),
  email: Type.String(),
  email_verified: Type.Boolean(),
  assurance_level: Type.Union([Type.Literal('L0'), Type.Literal('L1'), Type.Literal('L2')], {
    description: 'L0 e-mail verified; L1 + phone verified (hold a balance, receive refunds); L2 + identity verified (pay, link banks, charge, withdraw).',
  }),
  phone: Type.Union([Type.String(), Type.Null()]),
  phone_verified: Type.Boolean(),
  status: Type.Union([Type.Literal('active'), Type.Literal('frozen'), Type.Literal('closed')]),
  created_at: Timestamp,
});

export function walletJson(w: Wallet) {
  return {
    id: w.id, email: w.email, email_verified: w.emailVerified, assurance_level: w.assuranceLevel, phone: w.phone,
    phone_verified: w.phoneVerified, status: w.status, created_at: w.createdAt.toISOString(),
  };
}

const BalanceSchema = Type.Object({
  wallet_id: Type.String(),
  currency: Type.Literal('JPY'),
  balance: Type.Integer({ description: 'Posted balance in yen.' }),
  available: Type.Integer({ description: 'What can be spent now: posted balance less pending debits.' }),
  pending: Type.Integer({ description: 'Pending credits less pending debits.' }),
});

const TransactionSchema = Type.Object({
  id: Type.String({ description: 'Ledger transfer id.' }),
  type: Type.String({ description: 'payment, refund, topup, charge, withdrawal, compensation, …' }),
  direction: Type.Union([Type.Literal('debit'), Type.Literal('credit')]),
  amount: Type.Integer(),
  status: Type.Union([Type.Literal('posted'), Type.Literal('pending'), Type.Literal('voided')]),
  reference: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
});

export function registerWalletRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/email', {
    schema: {
      tags: ['wallet'], summary: 'Change the e-mail address: a code goes to the NEW address; nothing changes until it is entered',
      description: 'Once the wallet has a second factor this needs step_up_proof (action email_change). The answer is the same '
        + 'whether or not the address has a wallet. At most 3 codes per 15 minutes. When the change is confirmed '
        + '(POST /v1/email/verify), the old address and the verified phone are told, and payments plus withdrawals are '
        + 'capped (KOZA_CONTACT_CHANGE_MONEY_OUT_CAP a rolling 24 h, default ¥10,000) for KOZA_CONTACT_CHANGE_HOLD_HOURS (default 72).',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      body: Type.Object({
        email: Type.String({ minLength: 3, maxLength: 254, format: 'email' }),
        step_up_proof: Type.Optional(stepUpProofField('On a wallet with a factor: a proof for action email_change.')),
      }, { additionalProperties: false }),
      response: {
        202: Type.Object({ status: Type.Literal('code_sent'), email: Type.String(), expires_in_seconds: Type.Integer() }),
        ...problems(400, 401, 403, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const sent = await startEmailChange(tx, ctx.config.secretKey, {
        walletId: session.walletId, newEmail: request.body.email, stepUpProof: request.body.step_up_proof, ip: request.ip,
      });
      return { status: 202, body: { status: 'code_sent', email: sent.email, expires_in_seconds: sent.expiresInSeconds } };
    });
  });

  app.post('/v1/email/verify', {
    schema: {
      tags: ['wallet'], summary: 'Confirm the new e-mail address with the code sent to it; the change takes effect now',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      body: Type.Object({ code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ wallet: WalletSchema, money_out_limited_until: Type.Union([Timestamp, Type.Null()]) }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      // The address is where every notice goes: a profile change the risk engine decides, as a phone change is.
      await gateOnRisk(ctx, request, tx, { kind: 'profile_change', walletId: session.walletId, attributes: { change: 'email' } });
      const changed = await confirmEmailChange(tx, ctx.config.secretKey, {
        walletId: session.walletId, code: request.body.code, sms: sandboxSmsSender, hold: contactChangeHold(ctx),
      });
      const wallet = await getWallet(tx, session.walletId);
      return { status: 200, body: { wallet: walletJson(wallet), money_out_limited_until: changed.holdEndsAt?.toISOString() ?? null } };
    });
  });

  app.get('/v1/wallet', {
    schema: {
      tags: ['wallet'], summary: 'The signed-in wallet', security: [{ session: [] }],
      response: { 200: Type.Object({ wallet: WalletSchema, balance: BalanceSchema }), ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const wallet = await getWallet(ctx.db, session.walletId);
    const b = await walletBalance(ctx.db, wallet);
    return { wallet: walletJson(wallet), balance: { wallet_id: wallet.id, currency: 'JPY' as const, ...b } };
  });

  app.get('/v1/wallet/balance', {
    schema: {
      tags: ['wallet'], summary: 'Balance of the signed-in wallet', security: [{ session: [] }],
      response: { 200: BalanceSchema, ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const wallet = await getWallet(ctx.db, session.walletId);
    return { wallet_id: wallet.id, currency: 'JPY' as const, ...await walletBalance(ctx.db, wallet) };
  });

  app.get('/v1/wallet/transactions', {
    schema: {
      tags: ['wallet'], summary: 'Transaction history, newest first (cursor pagination)', security: [{ session: [] }],
      querystring: PageQuery,
      response: { 200: pageOf(TransactionSchema), ...problems(400, 401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const page = parsePage(request.query);
    const wallet = await getWallet(ctx.db, session.walletId);
    const rows = await walletHistory(ctx.db, wallet, page);
    return {
      data: rows.map((t) => ({
        id: t.id, type: t.code, direction: t.debitAccountId === wallet.ledgerAccountId ? 'debit' as const : 'credit' as const,
        amount: t.amount, status: t.status, reference: t.reference, created_at: t.createdAt.toISOString(),
      })),
      next_cursor: nextCursor(rows, page.limit),
    };
  });
}
