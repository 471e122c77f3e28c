// Owns sign-in and sign-out.
// Must never say whether it was the e-mail or the password that was wrong.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { logIn } from '../../identity/login.js';
import { listDevices } from '../../identity/devices.js';
import { revokeAllSessions, revokeSession } from '../../identity/sessions.js';
import { clientInfo, sessionPolicy } from '../context.js';
import { gateOnRisk } from '../risk-gate.js';

export function registerSessionRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/sessions', {
    schema: {
      tags: ['wallet'], summary: 'Sign in; returns a session token',
      headers: IdempotencyHeaders,
      body: Type.Object({
        email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ session_id: Type.String(), token: Type.String(), wallet_id: Type.String(), expires_at: Timestamp }),
        ...problems(400, 401, 403, 413, 415, 422, 429),
      },
      description: 'The token is shown once. A retry with the same Idempotency-Key returns the same session. '
        + 'Send X-Device-Id (a random id the app keeps; or the koza_device cookie, docs/device-signal.md) to be '
        + 'recognised as a known device; a sign-in from a new '
        + 'device is e-mailed to the owner. Repeated failures make the account wait (2 s doubling, at most 15 min).',
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
    { scope: 'public:login', sensitive: true },
    async (tx) => {
      const session = await logIn(tx, sessionPolicy(ctx), request.body, clientInfo(request), async (walletId) => {
        // Review and challenge open an alert and go on: sign-in has no second step yet to challenge with.
        await gateOnRisk(ctx, request, tx, { kind: 'login', walletId });
      });
      return {
        status: 201,
        body: { session_id: session.sessionId, token: session.token, wallet_id: session.walletId, expires_at: session.expiresAt.toISOString() },
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

  app.delete('/v1/sessions', {
    schema: {
      tags: ['wallet'], summary: 'Sign out everywhere: every session of this wallet ends', security: [{ session: [] }],
      response: { 200: Type.Object({ revoked: Type.Integer() }), ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return { revoked: await revokeAllSessions(ctx.db, session.walletId) };
  });

  app.get('/v1/devices', {
    schema: {
      tags: ['wallet'], summary: 'Devices this wallet signed in from', security: [{ session: [] }],
      response: {
        200: Type.Object({ data: Type.Array(Type.Object({
          id: Type.String(), user_agent: Type.Union([Type.String(), Type.Null()]),
          first_ip: Type.Union([Type.String(), Type.Null()]), last_ip: Type.Union([Type.String(), Type.Null()]),
          first_seen_at: Timestamp, last_seen_at: Timestamp,
        })) }),
        ...problems(401),
      },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const devices = await listDevices(ctx.db, session.walletId);
    return {
      data: devices.map((d) => ({
        id: d.id, user_agent: d.userAgent, first_ip: d.firstIp, last_ip: d.lastIp,
        first_seen_at: d.firstSeenAt.toISOString(), last_seen_at: d.lastSeenAt.toISOString(),
      })),
    };
  });
}
