// Owns sign-in and sign-out.
// Must never say whether it was the e-mail or the password that was wrong.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { checkCredentials } from '../../wallets/wallets.js';
import { createSession, revokeSession } from '../../identity/sessions.js';

export function registerSessionRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/sessions', {
    schema: {
      tags: ['wallet'], summary: 'Sign in; returns a session token',
      description: 'The token is shown once. A retry with the same Idempotency-Key returns the same session.',
      headers: IdempotencyHeaders,
      body: Type.Object({
        email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ session_id: Type.String(), token: Type.String(), wallet_id: Type.String(), expires_at: Timestamp }),
        ...problems(400, 401, 403, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
    { scope: 'public:login', sensitive: true },
    async (tx) => {
      const wallet = await checkCredentials(tx, request.body);
      const session = await createSession(tx, {
        idleMinutes: ctx.config.sessionIdleMinutes, absoluteHours: ctx.config.sessionAbsoluteHours,
      }, wallet.id, { ip: request.ip, userAgent: request.headers['user-agent'] });
      return {
        status: 201,
        body: { session_id: session.sessionId, token: session.token, wallet_id: wallet.id, expires_at: session.expiresAt.toISOString() },
      };
    }));

  app.delete('/v1/sessions/current', {
    schema: {
      tags: ['wallet'], summary: 'Sign out this session', security: [{ session: [] }],
      response: { 204: Type.Null(), ...problems(401) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    await revokeSession(ctx.db, session.sessionId);
    return reply.code(204).send(null);
  });
}
