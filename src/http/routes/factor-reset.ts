// Owns the routes of the lost-every-factor support path: start a factor reset, prove the person and the mailbox, wait,
// complete, or cancel ("this was not me"). Must never let a session alone move a reset on, nor return a stored token.
import { Type } from 'typebox';
import type { FastifyRequest } from 'fastify';
import type { App, Ctx } from '../context.js';
import { clientInfo, requireSession } from '../context.js';
import { gateOnRisk } from '../risk-gate.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { SubmissionBody } from './identity.js';
import { contactChangeHold } from './phone.js';
import type { Queryable } from '../../store/db.js';
import { sandboxSmsSender } from '../../identity/sms.js';
import { loadLoginChallengeForAnswer } from '../../identity/login-challenge.js';
import { IdentityProviderUnavailable } from '../../identity/verification/verify-identity.js';
import type { IdentityVerifier } from '../../identity/verification/verifier.js';
import type { FactorReset } from '../../identity/factors/reset-store.js';
import {
  cancelResetNotMe, completeFactorReset, confirmResetIdentity, confirmResetMailbox, resendResetCode, RESET_VERIFYING_HOURS,
  startFactorReset, type ResetEnv,
} from '../../identity/factors/reset.js';

function resetEnv(ctx: Ctx): ResetEnv {
  return {
    secretKey: ctx.config.secretKey, now: new Date(), sms: sandboxSmsSender, waitHours: ctx.config.factorResetWaitHours,
    hold: contactChangeHold(ctx),
  };
}

const ResetToken = Type.String({ pattern: '^krt_[A-Za-z0-9_-]{43}$', description: 'krt_…: from POST /v1/factors/reset, shown once.' });
const EmailCode = Type.String({ pattern: '^[0-9]{6}$', description: 'The 6-digit code e-mailed to the wallet\'s address.' });

const ResetSchema = Type.Object({
  id: Type.String(),
  status: Type.Union(['verifying', 'waiting', 'completed', 'cancelled', 'expired'].map((s) => Type.Literal(s))),
  identity_confirmed: Type.Boolean(), mailbox_confirmed: Type.Boolean(),
  waits_until: Type.Union([Timestamp, Type.Null()], { description: 'Set when both proofs are in; nothing shortens it.' }),
  verify_by: Timestamp,
});

function resetJson(r: FactorReset) {
  return {
    id: r.id, status: r.status, identity_confirmed: r.verificationId !== null, mailbox_confirmed: r.mailboxConfirmedAt !== null,
    waits_until: r.waitsUntil?.toISOString() ?? null, verify_by: r.verifyingExpiresAt.toISOString(),
  };
}

const FLOW = 'Lost every factor (no phone with the authenticator app, no passkey, no recovery code): 1. start with a session or '
  + 'with the login_challenge of a sign-in stuck at its second step; 2. prove the mailbox (code e-mailed now) and the person '
  + `(eKYC: same person as the identity on file, with the provider's liveness check) within ${RESET_VERIFYING_HOURS} h; 3. wait `
  + '(KOZA_FACTOR_RESET_WAIT_HOURS, default 72 h; e-mail and phone are told; any use of an existing factor or "this was not me" '
  + 'cancels; payments and withdrawals are capped as after a contact change); 4. complete with a fresh e-mailed code: the old '
  + 'factors and recovery codes stop, the next sign-in asks an e-mailed code, and a new factor is enrolled with a mailbox proof.';

export function registerFactorResetRoutes(app: App, ctx: Ctx, verifier: IdentityVerifier | null): void {
  app.post('/v1/factors/reset', {
    schema: {
      tags: ['factors'], summary: 'Start a factor reset (lost every second factor): e-mails a code; returns the reset token once',
      description: FLOW, headers: IdempotencyHeaders,
      body: Type.Object({
        login_challenge: Type.Optional(Type.String({ description: 'lgc_…: a sign-in that asked for a second factor you no longer have.' })),
      }, { additionalProperties: false }),
      response: {
        201: Type.Object({ reset: ResetSchema, reset_token: ResetToken, email: Type.String() }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const viaChallenge = request.body.login_challenge;
    const session = viaChallenge === undefined ? await requireSession(ctx, request) : null;
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply,
      { scope: session ? session.walletId : 'public:factor-reset', sensitive: true }, async (tx) => {
        const env = resetEnv(ctx);
        const challenge = viaChallenge === undefined ? null : await loadLoginChallengeForAnswer(tx, viaChallenge, env.now);
        const walletId = session?.walletId ?? challenge!.walletId;
        await gateOnRisk(ctx, request, tx, { kind: 'factor_change', walletId, attributes: { change: 'factor_reset_started' } });
        const started = await startFactorReset(tx, env, {
          walletId, via: session ? 'session' : 'login_challenge', ip: request.ip,
          deviceId: (session ? clientInfo(request).deviceId : challenge!.client.deviceId) ?? null,
        });
        return { status: 201, body: { reset: resetJson(started.reset), reset_token: started.token, email: started.email } };
      });
  });

  const step = <B>(path: string, summary: string, body: ReturnType<typeof Type.Object>, run: (tx: Queryable, env: ResetEnv, b: B, r: FastifyRequest) => Promise<FactorReset>) =>
    app.post(path, {
      schema: {
        tags: ['factors'], summary, description: FLOW, headers: IdempotencyHeaders, body,
        response: { 200: Type.Object({ reset: ResetSchema }), ...problems(400, 404, 409, 413, 415, 422, 429, 503) },
      },
    }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: 'public:factor-reset', sensitive: true },
      async (tx) => ({ status: 200, body: { reset: resetJson(await run(tx, resetEnv(ctx), request.body as B, request)) } })));

  step<{ reset_token: string; code: string }>('/v1/factors/reset/mailbox', 'Prove the mailbox of a factor reset with the e-mailed code',
    Type.Object({ reset_token: ResetToken, code: EmailCode }, { additionalProperties: false }),
    (tx, env, b) => confirmResetMailbox(tx, env, { token: b.reset_token, code: b.code }));

  step<{ reset_token: string; identity: Record<string, any> }>('/v1/factors/reset/identity',
    'Prove the person of a factor reset: an eKYC submission that must verify as the identity on file',
    Type.Object({ reset_token: ResetToken, identity: SubmissionBody }, { additionalProperties: false }),
    async (tx, env, b) => {
      if (!verifier) throw new IdentityProviderUnavailable('No identity-verification provider is configured.');
      const i = b.identity;
      return confirmResetIdentity(tx, env, { secretKey: ctx.config.secretKey, verifier }, {
        token: b.reset_token,
        submission: {
          documentType: i.document_type, documentNumber: i.document_number, selfieToken: i.selfie_token,
          claimed: { nameKanji: i.name_kanji, nameKana: i.name_kana, dateOfBirth: i.date_of_birth, address: { ...i.address } },
        },
      });
    });

  step<{ reset_token: string; code: string }>('/v1/factors/reset/complete',
    'After the wait, with a fresh e-mailed code: the old factors and recovery codes stop working',
    Type.Object({ reset_token: ResetToken, code: EmailCode }, { additionalProperties: false }),
    (tx, env, b) => completeFactorReset(tx, env, { token: b.reset_token, code: b.code }));

  step<{ cancel_token: string }>('/v1/factors/reset/cancel',
    '"This was not me": the token sent to the e-mail and the phone cancels a waiting factor reset',
    Type.Object({ cancel_token: Type.String({ pattern: '^krc_[A-Za-z0-9_-]{43}$' }) }, { additionalProperties: false }),
    (tx, env, b) => cancelResetNotMe(tx, env, { cancelToken: b.cancel_token }));

  app.post('/v1/factors/reset/email-code', {
    schema: {
      tags: ['factors'], summary: 'E-mail a new code for a factor reset (the first lapsed, or completion after the wait)',
      description: FLOW, headers: IdempotencyHeaders,
      body: Type.Object({ reset_token: ResetToken }, { additionalProperties: false }),
      response: { 202: Type.Object({ status: Type.Literal('code_sent'), email: Type.String() }), ...problems(400, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: 'public:factor-reset' }, async (tx) => {
    const sent = await resendResetCode(tx, resetEnv(ctx), { token: request.body.reset_token });
    return { status: 202, body: { status: 'code_sent' as const, email: sent.email } };
  }));
}
