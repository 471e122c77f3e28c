// Owns sign-in (with its second step) and sign-out.
// Must never say whether it was the e-mail or the password that was wrong, nor which second factor was.
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { Bilingual, IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { approveWith } from '../next-steps.js';
import { completeLogin, logIn, type LoginEnv, type LoginRisk } from '../../identity/login.js';
import { LOGIN_CHALLENGE_MAX_FAILURES, LOGIN_CHALLENGE_MINUTES, type LoginAnswer } from '../../identity/login-challenge.js';
import { listDevices } from '../../identity/devices.js';
import { revokeAllSessions, revokeSession, type IssuedSession } from '../../identity/sessions.js';
import type { Queryable } from '../../store/db.js';
import { clientInfo, sessionPolicy } from '../context.js';
import { gateOnRisk, riskClient } from '../risk-gate.js';
import { AuthenticationCredential, factorEnv, WebAuthnOptions } from './factors.js';

const SessionCreated = Type.Object({ session_id: Type.String(), token: Type.String(), wallet_id: Type.String(), expires_at: Timestamp });
const LoginMethod = Type.Union([Type.Literal('totp'), Type.Literal('passkey'), Type.Literal('recovery_code'), Type.Literal('email_code')]);
const SecondFactorRequired = Type.Object({
  status: Type.Literal('second_factor_required'),
  login_challenge: Type.String({ description: 'lgc_…: send it to POST /v1/sessions/second-factor. Single use.' }),
  methods: Type.Array(LoginMethod, { description: 'What can complete the sign-in: the wallet\'s factors, or a code e-mailed to it (email_code).' }),
  expires_at: Timestamp,
  webauthn: Type.Union([WebAuthnOptions, Type.Null()], { description: 'navigator.credentials.get() options when a passkey can answer.' }),
  next_step: Type.Object(Bilingual.properties, { description: 'What to do now, in Japanese and English: the methods above, in words.' }),
});
const LoginChallengeToken = Type.String({ pattern: '^lgc_[A-Za-z0-9_-]{43}$' });

function loginEnv(ctx: Ctx): LoginEnv {
  return { ...factorEnv(ctx), policy: sessionPolicy(ctx), factorAtNewDevice: ctx.config.policy === 'secure' };
}

/** Failed sign-ins reach the risk engine as login events with a failure attribute; right ones are decided by it. */
function loginRisk(ctx: Ctx, request: FastifyRequest, tx: Queryable): LoginRisk {
  return {
    async failed({ walletId, accountKey, failure }) {
      await ctx.risk({ ...riskClient(request), kind: 'login', walletId, attributes: { failure, login_account: accountKey } }, tx);
    },
    decide: ({ walletId, accountKey, newDevice }) => gateOnRisk(ctx, request, tx, {
      kind: 'login', walletId, attributes: { login_account: accountKey, new_device_login: newDevice },
    }),
  };
}

function sessionJson(s: { session: IssuedSession; walletId: string }) {
  return { session_id: s.session.sessionId, token: s.session.token, wallet_id: s.walletId, expires_at: s.session.expiresAt.toISOString() };
}

export function registerSessionRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/sessions', {
    schema: {
      tags: ['wallet'], summary: 'Sign in; returns a session token, or asks for a second proof first',
      headers: IdempotencyHeaders,
      body: Type.Object({
        email: Type.String({ minLength: 3, maxLength: 254 }), password: Type.String({ minLength: 1, maxLength: 1024 }),
      }, { additionalProperties: false }),
      response: { 201: SessionCreated, 202: SecondFactorRequired, ...problems(400, 401, 403, 413, 415, 422, 429) },
      description: 'The token is shown once. A retry with the same Idempotency-Key returns the same answer. '
        + 'Send X-Device-Id (a random id the app keeps; or the koza_device cookie, docs/device-signal.md) to be '
        + 'recognised as a known device; a sign-in from a new device is e-mailed to the owner. Once the wallet has a '
        + 'second factor, a right password from a device the wallet has not seen opens no session: the answer is 202 '
        + '`second_factor_required` with a login challenge to complete at POST /v1/sessions/second-factor within '
        + `${LOGIN_CHALLENGE_MINUTES} minutes. The risk engine may ask the same of any sign-in (a wallet without a factor `
        + 'then gets a code by e-mail, method email_code). Tries for one account are decided one after another, in '
        + 'every koza process: after 5 failures the account waits (2 s doubling, at most 15 min; 429 with Retry-After).',
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
    { scope: 'public:login', sensitive: true },
    async (tx) => {
      const outcome = await logIn(tx, loginEnv(ctx), request.body, clientInfo(request), loginRisk(ctx, request, tx));
      if (outcome.kind === 'session') return { status: 201, body: sessionJson(outcome) };
      const c = outcome.challenge;
      return {
        status: 202,
        body: {
          status: 'second_factor_required', login_challenge: c.token, methods: c.methods, expires_at: c.expiresAt.toISOString(),
          webauthn: c.webauthn, next_step: approveWith(c.methods),
        },
      };
    }));

  app.post('/v1/sessions/second-factor', {
    schema: {
      tags: ['wallet'], summary: 'Complete a sign-in that asked for a second proof; returns the session',
      description: 'Answer with `code` (a 6-digit authenticator code, a recovery code, or the e-mailed code) or with '
        + '`credential` (the passkey assertion for the `webauthn` options of the 202). The challenge is single use, valid '
        + `${LOGIN_CHALLENGE_MINUTES} minutes, and ${LOGIN_CHALLENGE_MAX_FAILURES} wrong answers close it (they count toward `
        + 'the factor\'s own lockout too). A wrong answer never says which factor was wrong. The device becomes known '
        + 'to the wallet only now.',
      headers: IdempotencyHeaders,
      body: Type.Union([
        Type.Object({ login_challenge: LoginChallengeToken, code: Type.String({ minLength: 6, maxLength: 20 }) }, { additionalProperties: false }),
        Type.Object({ login_challenge: LoginChallengeToken, credential: AuthenticationCredential }, { additionalProperties: false }),
      ]),
      response: { 201: SessionCreated, ...problems(400, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
    { scope: 'public:login-second-factor', sensitive: true },
    async (tx) => {
      const body = request.body as { login_challenge: string } & LoginAnswer;
      const answer: LoginAnswer = 'credential' in body ? { credential: body.credential } : { code: body.code };
      const done = await completeLogin(tx, loginEnv(ctx), { loginChallenge: body.login_challenge, answer }, request.ip,
        loginRisk(ctx, request, tx));
      return { status: 201, body: sessionJson(done) };
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
