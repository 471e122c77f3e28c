// Owns the wallet's own routes: who am I, balance, history.
// Must never show one wallet's data to another's session.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp } from '../schemas.js';
import { getWallet, walletBalance, walletHistory, type Wallet } from '../../wallets/wallets.js';

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
