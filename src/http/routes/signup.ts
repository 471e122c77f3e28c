// Owns the sign-up routes: open a wallet, verify the e-mail with a code, ask for a new code.
// Must never tell whether an e-mail already has a wallet.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems } from '../schemas.js';
import { resendEmailCode, signUp, verifyEmail } from '../../wallets/wallets.js';
import { WalletSchema, walletJson } from './wallet.js';
import { gateOnRisk } from '../risk-gate.js';

const Email = Type.String({ minLength: 3, maxLength: 254, format: 'email', examples: ['hanako@example.jp'] });
const Accepted = Type.Object({ status: Type.Literal('verification_sent'), email: Type.String() });

export function registerSignupRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/signup', {
    schema: {
      tags: ['wallet'], summary: 'Open a wallet (e-mail + password); a code is e-mailed to verify the address',
      description: 'Answers the same whether or not the e-mail already has a wallet; its owner is told by e-mail.',
      headers: IdempotencyHeaders,
      body: Type.Object({ email: Email, password: Type.String({ minLength: 1, maxLength: 1024 }) }, { additionalProperties: false }),
      response: { 202: Accepted, ...problems(400, 403, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: 'public:signup' },
    async (tx) => {
      await signUp(tx, ctx.config.secretKey, request.body, async (walletId) => {
        await gateOnRisk(ctx, request, tx, { kind: 'signup', walletId, attributes: { email: request.body.email.trim() } });
      });
      return { status: 202, body: { status: 'verification_sent', email: request.body.email.trim().toLowerCase() } };
    }));

  app.post('/v1/signup/verify', {
    schema: {
      tags: ['wallet'], summary: 'Verify the e-mail address with the 6-digit code',
      headers: IdempotencyHeaders,
      body: Type.Object({ email: Email, code: Type.String({ pattern: '^[0-9]{6}$' }) }, { additionalProperties: false }),
      response: { 200: WalletSchema, ...problems(400, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: 'public:verify' },
    async (tx) => ({ status: 200, body: walletJson(await verifyEmail(tx, ctx.config.secretKey, request.body)) })));

  app.post('/v1/signup/resend', {
    schema: {
      tags: ['wallet'], summary: 'E-mail a new verification code',
      headers: IdempotencyHeaders,
      body: Type.Object({ email: Email }, { additionalProperties: false }),
      response: { 202: Accepted, ...problems(400, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: 'public:resend' },
    async (tx) => {
      await resendEmailCode(tx, ctx.config.secretKey, request.body.email);
      return { status: 202, body: { status: 'verification_sent', email: request.body.email.trim().toLowerCase() } };
    }));
}
