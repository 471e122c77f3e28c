// Owns the second-factor routes: enrol TOTP and passkeys, list them, replace recovery codes, remove a factor.
// Must never return a stored secret (only a TOTP secret at enrolment start, once), nor change factors without a session.
import { Type } from 'typebox';
import type { RegistrationResponseJSON } from '@simplewebauthn/server';
import type { App, Ctx } from '../context.js';
import type { FastifyRequest } from 'fastify';
import { gateOnRisk } from '../risk-gate.js';
import { requireSession, sessionPolicy } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, problems, Timestamp, RotatedSession } from '../schemas.js';
import { rotateSession } from '../../identity/sessions.js';
import type { Queryable } from '../../store/db.js';
import type { Factor } from '../../identity/factors/store.js';
import { listActiveFactors, listActivePasskeys, liveRecoveryBatch } from '../../identity/factors/store.js';
import { TOTP_CODE_PATTERN } from '../../identity/factors/totp.js';
import {
  confirmPasskeyEnrollment, confirmTotpEnrollment, regenerateRecoveryCodes, removeFactor, sendFirstFactorEmailCode, startPasskeyEnrollment,
  startTotpEnrollment, TOTP_ENROLLMENT_MINUTES, type FactorEnv,
} from '../../identity/factors/enrollment.js';
import { PASSKEY_CEREMONY_SECONDS } from '../../identity/factors/passkeys.js';
import { RECOVERY_CODE_COUNT } from '../../identity/factors/recovery-codes.js';

export function factorEnv(ctx: Ctx): FactorEnv {
  return {
    secretKey: ctx.config.secretKey,
    rp: { id: ctx.config.webauthnRpId, name: ctx.config.webauthnRpName, origins: ctx.config.webauthnOrigins },
    now: new Date(),
  };
}

const Base64Url = (maxLength: number) => Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength });

export const stepUpProofField = (description = 'The proof from POST /v1/step-up/challenges/{id}/approve.') =>
  Type.String({ pattern: '^kzp_[A-Za-z0-9_-]{43}$', description });

const FactorSchema = Type.Object({
  id: Type.String(), kind: Type.Union([Type.Literal('totp'), Type.Literal('passkey')]), label: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('active'), Type.Literal('removed')]),
  created_at: Timestamp, activated_at: Type.Union([Timestamp, Type.Null()]), last_used_at: Type.Union([Timestamp, Type.Null()]),
  locked_until: Type.Union([Timestamp, Type.Null()], { description: 'Set while wrong tries keep the factor locked.' }),
});

function factorJson(f: Factor) {
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: f.id, kind: f.kind, label: f.label, status: f.status, created_at: f.createdAt.toISOString(),
    activated_at: iso(f.activatedAt), last_used_at: iso(f.lastUsedAt),
    locked_until: f.lockout.lockedUntil && f.lockout.lockedUntil > new Date() ? f.lockout.lockedUntil.toISOString() : null,
  };
}

const FactorParams = Type.Object({ id: Type.String({ pattern: '^fac_[A-Za-z0-9_-]{1,64}$' }) });
const Label = Type.String({ minLength: 1, maxLength: 64, description: 'A name the customer recognises, e.g. "iPhone".' });

const EnrollFields = {
  label: Type.Optional(Label),
  step_up_proof: Type.Optional(stepUpProofField('Required once the wallet has a factor: a proof for action factor_enrollment.')),
  email_code: Type.Optional(Type.String({
    pattern: '^[0-9]{6}$',
    description: 'The first factor, when asked for (403 email-code-required): the code from POST /v1/factors/email-code.',
  })),
};
const EnrollBody = Type.Object(EnrollFields, { additionalProperties: false });
const TotpEnrollBody = Type.Object({
  ...EnrollFields,
  replaces: Type.Optional(Type.String({
    pattern: '^fac_[A-Za-z0-9_-]{1,64}$',
    description: 'Moving the authenticator app to a new phone: the enrolled app this one replaces. Needs step_up_proof for action '
      + 'factor_replacement with this id as destination (approved with the old app, a passkey or a recovery code). The old app works '
      + 'until the new one is confirmed, then stops in the same step.',
  })),
}, { additionalProperties: false });

const FIRST_FACTOR_RULE = 'The first factor needs a proof of the wallet\'s mailbox: none on the device that signed up, within a day of '
  + 'verifying the e-mail; otherwise 403 email-code-required: ask POST /v1/factors/email-code and send email_code. ';

const RecoveryCodes = Type.Array(Type.String(), {
  description: `${RECOVERY_CODE_COUNT} one-use codes, shown once. Each approves one step-up instead of a factor.`,
});

const Enrolled = Type.Object({
  factor: FactorSchema,
  recovery_codes: Type.Union([RecoveryCodes, Type.Null()], {
    description: 'With the wallet\'s first factor, and with an authenticator app replaced on a recovery code\'s approval; null otherwise.',
  }),
  session: RotatedSession,
});

const RegistrationCredential = Type.Object({
  id: Base64Url(1024), rawId: Base64Url(1024), type: Type.Literal('public-key'),
  authenticatorAttachment: Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')])),
  clientExtensionResults: Type.Object({}, { additionalProperties: true }),
  response: Type.Object({
    clientDataJSON: Base64Url(4096), attestationObject: Base64Url(32768),
    authenticatorData: Type.Optional(Base64Url(32768)),
    transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 })),
    publicKeyAlgorithm: Type.Optional(Type.Integer()),
    publicKey: Type.Optional(Base64Url(8192)),
  }, { additionalProperties: false }),
}, { additionalProperties: false, description: 'PublicKeyCredential.toJSON() of navigator.credentials.create().' });

export const AuthenticationCredential = Type.Object({
  id: Base64Url(1024), rawId: Base64Url(1024), type: Type.Literal('public-key'),
  authenticatorAttachment: Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')])),
  clientExtensionResults: Type.Object({}, { additionalProperties: true }),
  response: Type.Object({
    clientDataJSON: Base64Url(4096), authenticatorData: Base64Url(8192), signature: Base64Url(2048),
    userHandle: Type.Optional(Base64Url(128)),
  }, { additionalProperties: false }),
}, { additionalProperties: false, description: 'PublicKeyCredential.toJSON() of navigator.credentials.get().' });

export const WebAuthnOptions = Type.Object({ challenge: Type.String() }, {
  additionalProperties: true, description: 'Options for the browser\'s WebAuthn call, in the WebAuthn JSON form.',
});

async function factorState(q: Queryable, walletId: string) {
  const factors = await listActiveFactors(q, walletId);
  const passkeys = await listActivePasskeys(q, walletId);
  const recovery = await liveRecoveryBatch(q, walletId);
  return {
    second_factor_enrolled: factors.length > 0,
    totp_enrolled: factors.some((f) => f.kind === 'totp'),
    passkeys: passkeys.length,
    recovery_codes_remaining: recovery?.remaining ?? 0,
    locked_factors: factors.filter((f) => factorJson(f).locked_until !== null).map((f) => f.id),
  };
}

export function registerFactorRoutes(app: App, ctx: Ctx): void {
  app.get('/v1/factors', {
    schema: {
      tags: ['factors'], summary: 'The wallet\'s enrolled second factors (no secrets)', security: [{ session: [] }],
      response: { 200: Type.Object({ data: Type.Array(FactorSchema) }), ...problems(401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return { data: (await listActiveFactors(ctx.db, session.walletId)).map(factorJson) };
  });

  app.get('/v1/factors/state', {
    schema: {
      tags: ['factors'], summary: 'Whether the wallet has a second factor, which kinds, and recovery codes left',
      security: [{ session: [] }],
      response: {
        200: Type.Object({
          second_factor_enrolled: Type.Boolean(), totp_enrolled: Type.Boolean(), passkeys: Type.Integer(),
          recovery_codes_remaining: Type.Integer(), locked_factors: Type.Array(Type.String()),
        }),
        ...problems(401),
      },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return factorState(ctx.db, session.walletId);
  });

  app.post('/v1/factors/email-code', {
    schema: {
      tags: ['factors'], summary: 'E-mail a code that lets this wallet enrol its first second factor',
      description: 'Send it as email_code to POST /v1/factors/totp or /v1/factors/passkeys. At most 3 codes per 15 minutes. '
        + 'The e-mail tells the owner what it is for, so a thief holding only the password is seen.',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      response: {
        202: Type.Object({ status: Type.Literal('code_sent'), email: Type.String(), expires_in_seconds: Type.Integer() }),
        ...problems(400, 401, 409, 413, 415, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const sent = await sendFirstFactorEmailCode(tx, factorEnv(ctx), { walletId: session.walletId, ip: request.ip });
      return { status: 202, body: { status: 'code_sent', email: sent.email, expires_in_seconds: sent.expiresInSeconds } };
    });
  });

  app.post('/v1/factors/totp', {
    schema: {
      tags: ['factors'], summary: 'Start enrolling an authenticator app (TOTP): returns the secret, an otpauth:// URI and a QR code',
      description: `Shown once. Confirm within ${TOTP_ENROLLMENT_MINUTES} minutes with a current code. One authenticator app per wallet: `
        + 'to move it to a new phone send replaces (409 totp-already-enrolled without it). '
        + FIRST_FACTOR_RULE + 'Once the wallet has a factor, adding one needs a step-up proof for action factor_enrollment.',
      security: [{ session: [] }], headers: IdempotencyHeaders, body: TotpEnrollBody,
      response: {
        201: Type.Object({
          factor: FactorSchema, secret: Type.String({ description: 'Base32, for typing into the app.' }),
          otpauth_uri: Type.String(), qr_svg: Type.String({ description: 'The URI as an SVG QR code.' }), expires_at: Timestamp,
        }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      await factorChange(request, tx, session.walletId, request.body.replaces ? 'totp_replaced' : 'totp_added');
      const started = await startTotpEnrollment(tx, factorEnv(ctx), {
        walletId: session.walletId, label: request.body.label, stepUpProof: request.body.step_up_proof,
        sessionId: session.sessionId, emailCode: request.body.email_code, replaces: request.body.replaces,
      });
      return {
        status: 201,
        body: {
          factor: factorJson(started.factor), secret: started.secret, otpauth_uri: started.uri, qr_svg: started.qrSvg,
          expires_at: started.factor.enrollmentExpiresAt.toISOString(),
        },
      };
    });
  });

  app.post('/v1/factors/totp/:id/confirm', {
    schema: {
      tags: ['factors'], summary: 'Finish enrolling an authenticator app with a current code; the session is rotated',
      description: 'With the wallet\'s first factor the response carries recovery codes, shown once. A replacement retires the old app '
        + 'in the same step and tells the e-mail and the phone; if a recovery code approved it, a fresh set is returned (the old set stops).',
      security: [{ session: [] }], headers: IdempotencyHeaders, params: FactorParams,
      body: Type.Object({ code: Type.String({ pattern: TOTP_CODE_PATTERN, description: '6 digits.' }) }, { additionalProperties: false }),
      response: { 200: Enrolled, ...problems(400, 401, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      const done = await confirmTotpEnrollment(tx, factorEnv(ctx), {
        walletId: session.walletId, factorId: request.params.id, code: request.body.code,
      });
      return { status: 200, body: await enrolledJson(tx, session.sessionId, done.factor, done.recoveryCodes) };
    });
  });

  app.post('/v1/factors/passkeys', {
    schema: {
      tags: ['factors'], summary: 'Start registering a passkey: returns navigator.credentials.create() options',
      description: `Answer within ${PASSKEY_CEREMONY_SECONDS / 60} minutes; the challenge is single use. `
        + FIRST_FACTOR_RULE + 'Once the wallet has a factor, adding one needs a step-up proof for action factor_enrollment.',
      security: [{ session: [] }], headers: IdempotencyHeaders, body: EnrollBody,
      response: {
        201: Type.Object({ factor: FactorSchema, options: WebAuthnOptions, expires_at: Timestamp }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      await factorChange(request, tx, session.walletId, 'passkey_added');
      const started = await startPasskeyEnrollment(tx, factorEnv(ctx), {
        walletId: session.walletId, label: request.body.label, stepUpProof: request.body.step_up_proof,
        sessionId: session.sessionId, emailCode: request.body.email_code,
      });
      return {
        status: 201,
        body: { factor: factorJson(started.factor), options: started.options, expires_at: started.factor.enrollmentExpiresAt.toISOString() },
      };
    });
  });

  app.post('/v1/factors/passkeys/:id/confirm', {
    schema: {
      tags: ['factors'], summary: 'Finish registering a passkey with the authenticator\'s response; the session is rotated',
      description: 'With the wallet\'s first factor the response carries recovery codes, shown once.',
      security: [{ session: [] }], headers: IdempotencyHeaders, params: FactorParams,
      body: Type.Object({ credential: RegistrationCredential }, { additionalProperties: false }),
      response: { 200: Enrolled, ...problems(400, 401, 404, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      const done = await confirmPasskeyEnrollment(tx, factorEnv(ctx), {
        walletId: session.walletId, factorId: request.params.id, credential: request.body.credential as RegistrationResponseJSON,
      });
      return { status: 200, body: await enrolledJson(tx, session.sessionId, done.factor, done.recoveryCodes) };
    });
  });

  app.post('/v1/factors/:id/remove', {
    schema: {
      tags: ['factors'], summary: 'Remove a second factor with a step-up proof for action factor_removal and this factor as destination',
      description: 'Any factor or a recovery code may approve it, the one being removed included. The last factor stays while '
        + 'bank accounts are linked. The session is rotated.',
      security: [{ session: [] }], headers: IdempotencyHeaders, params: FactorParams,
      body: Type.Object({ step_up_proof: stepUpProofField() }, { additionalProperties: false }),
      response: {
        200: Type.Object({ factor: FactorSchema, session: RotatedSession }),
        ...problems(400, 401, 403, 404, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      await factorChange(request, tx, session.walletId, 'factor_removed');
      const removed = await removeFactor(tx, factorEnv(ctx), {
        walletId: session.walletId, factorId: request.params.id, stepUpProof: request.body.step_up_proof,
      });
      return { status: 200, body: { factor: factorJson(removed), session: await rotated(tx, session.sessionId) } };
    });
  });

  app.post('/v1/factors/recovery-codes', {
    schema: {
      tags: ['factors'], summary: 'Replace the recovery codes (step-up proof for action recovery_codes); the old ones stop working',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      body: Type.Object({ step_up_proof: stepUpProofField() }, { additionalProperties: false }),
      response: { 201: Type.Object({ recovery_codes: RecoveryCodes }), ...problems(400, 401, 403, 409, 413, 415, 422, 429) },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      await factorChange(request, tx, session.walletId, 'recovery_codes_replaced');
      const codes = await regenerateRecoveryCodes(tx, factorEnv(ctx), { walletId: session.walletId, stepUpProof: request.body.step_up_proof });
      return { status: 201, body: { recovery_codes: codes } };
    });
  });

  /**
   * Every factor change asks the risk hook first (takeover: new device or new SIM, then new factors). Deny refuses;
   * a challenge is met by the step-up proof these changes already need once the wallet has a factor; before its first
   * factor there is nothing to challenge with, so the engine's alert stands for it.
   */
  async function factorChange(request: FastifyRequest, tx: Queryable, walletId: string, change: string) {
    await gateOnRisk(ctx, request, tx, { kind: 'factor_change', walletId, attributes: { change } });
  }

  /** A factor change is a privilege change: the old token dies and the response carries the new one. */
  async function rotated(tx: Queryable, sessionId: string) {
    const next = await rotateSession(tx, sessionPolicy(ctx), sessionId);
    return { session_id: next.sessionId, token: next.token, expires_at: next.expiresAt.toISOString() };
  }

  async function enrolledJson(tx: Queryable, sessionId: string, factor: Factor, recoveryCodes: string[] | null) {
    return { factor: factorJson(factor), recovery_codes: recoveryCodes, session: await rotated(tx, sessionId) };
  }
}
