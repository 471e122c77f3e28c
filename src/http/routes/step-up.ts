// Owns the step-up routes: ask for a challenge bound to an action, amount and destination; approve it for a proof.
// Must never hand a proof to anyone but the wallet that approved, nor show a challenge to another wallet.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { requireSession } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { Amount, Bilingual, IdempotencyHeaders, problems, Timestamp } from '../schemas.js';
import { approveWith } from '../next-steps.js';
import { AuthenticationCredential, factorEnv, WebAuthnOptions } from './factors.js';
import type { Yen } from '../../money.js';
import { TOTP_CODE_PATTERN } from '../../identity/factors/totp.js';
import { STEP_UP_ACTIONS, stepUpBinding, type StepUpAction } from '../../identity/step-up-binding.js';
import {
  approveStepUpChallenge, challengeStatus, createStepUpChallenge, getStepUpChallenge, STEP_UP_CHALLENGE_MINUTES,
  STEP_UP_MAX_FAILURES, STEP_UP_PROOF_MINUTES, type StepUpChallenge, type StepUpPresentation,
} from '../../identity/step-up.js';

const Action = Type.Enum(STEP_UP_ACTIONS, {
  description: 'charge, payment and withdrawal need amount and destination; link, factor_removal and factor_replacement (the '
    + 'authenticator app being moved) a destination; '
    + 'factor_enrollment, recovery_codes, phone_change and email_change neither.',
});
const Destination = Type.String({
  pattern: '^[A-Za-z0-9_.:-]{1,128}$', description: 'What the action goes to: a merchant, a bank link, a factor id.',
});
const Method = Type.Union([Type.Literal('totp'), Type.Literal('passkey'), Type.Literal('recovery_code'), Type.Literal('email_code')], {
  description: 'email_code: only for a wallet with no second factor yet, for a charge, payment or withdrawal; the code was '
    + 'e-mailed to the wallet\'s verified address when the challenge was made.',
});

const ChallengeSchema = Type.Object({
  id: Type.String(), action: Action, amount: Type.Union([Type.Integer(), Type.Null()]),
  destination: Type.Union([Type.String(), Type.Null()]),
  description: Type.String({ description: 'What is being approved, to show the customer.' }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('approved'), Type.Literal('expired'), Type.Literal('locked')]),
  attempts_left: Type.Integer(), expires_at: Timestamp,
});

function challengeJson(c: StepUpChallenge, now: Date) {
  return {
    id: c.id, action: c.binding.action, amount: c.binding.amount, destination: c.binding.destination, description: c.description,
    status: challengeStatus(c, now), attempts_left: Math.max(0, STEP_UP_MAX_FAILURES - c.failedAttempts), expires_at: c.expiresAt.toISOString(),
  };
}

const ChallengeParams = Type.Object({ id: Type.String({ pattern: '^stp_[A-Za-z0-9_-]{1,64}$' }) });

const Approval = Type.Union([
  Type.Object({ method: Type.Literal('totp'), code: Type.String({ pattern: TOTP_CODE_PATTERN }) }, { additionalProperties: false }),
  Type.Object({ method: Type.Literal('passkey'), credential: AuthenticationCredential }, { additionalProperties: false }),
  Type.Object({
    method: Type.Literal('email_code'), code: Type.String({ pattern: '^[0-9]{6}$', description: 'The 6 digits e-mailed for this challenge.' }),
  }, { additionalProperties: false }),
  Type.Object({
    method: Type.Literal('recovery_code'), code: Type.String({ minLength: 10, maxLength: 20, description: 'e.g. 7k2m9-x4q8d' }),
  }, { additionalProperties: false }),
]);

export function registerStepUpRoutes(app: App, ctx: Ctx): void {
  app.post('/v1/step-up/challenges', {
    schema: {
      tags: ['step-up'], summary: 'Ask for a step-up challenge bound to an action, an amount and a destination (dynamic linking)',
      description: `Valid ${STEP_UP_CHALLENGE_MINUTES} minutes, ${STEP_UP_MAX_FAILURES} tries. For a passkey, \`webauthn\` holds `
        + 'navigator.credentials.get() options whose challenge is a hash of this challenge and what it binds, so the signature covers '
        + 'exactly this amount and destination. `methods` lists what can approve it: the wallet\'s factors; a wallet with no '
        + 'factor yet gets a 6-digit code by e-mail for a charge, payment or withdrawal (email_code; at most 5 in 15 minutes), '
        + 'and otherwise 409 second-factor-required (enrol a passkey or an authenticator app first). SMS never approves.',
      security: [{ session: [] }], headers: IdempotencyHeaders,
      body: Type.Object({ action: Action, amount: Type.Optional(Amount), destination: Type.Optional(Destination) }, { additionalProperties: false }),
      response: {
        201: Type.Object({
          challenge: ChallengeSchema, methods: Type.Array(Method, { description: 'The factors that can approve it.' }),
          webauthn: Type.Union([WebAuthnOptions, Type.Null()]),
          next_step: Type.Object(Bilingual.properties, { description: 'The methods in words, in Japanese and English, for the screen.' }),
        }),
        ...problems(400, 401, 404, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId }, async (tx) => {
      const env = factorEnv(ctx);
      const binding = stepUpBinding({
        action: request.body.action as StepUpAction, amount: request.body.amount as Yen | undefined, destination: request.body.destination,
      });
      const created = await createStepUpChallenge(tx, env, { walletId: session.walletId, binding });
      return {
        status: 201,
        body: {
          challenge: challengeJson(created.challenge, env.now), methods: created.methods, webauthn: created.webauthn,
          next_step: approveWith(created.methods),
        },
      };
    });
  });

  app.get('/v1/step-up/challenges/:id', {
    schema: {
      tags: ['step-up'], summary: 'A step-up challenge of the signed-in wallet and its status', security: [{ session: [] }],
      params: ChallengeParams,
      response: { 200: ChallengeSchema, ...problems(400, 401, 404) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    return challengeJson(await getStepUpChallenge(ctx.db, session.walletId, request.params.id), new Date());
  });

  app.post('/v1/step-up/challenges/:id/approve', {
    schema: {
      tags: ['step-up'], summary: 'Approve a challenge with a TOTP code, a passkey assertion, a recovery code or the e-mailed code; returns a single-use proof',
      description: `The proof is shown once, is valid ${STEP_UP_PROOF_MINUTES} minutes, and authorises exactly the challenge's action, `
        + 'amount and destination, once. A wrong answer counts against the challenge and the factor.',
      security: [{ session: [] }], headers: IdempotencyHeaders, params: ChallengeParams, body: Approval,
      response: {
        201: Type.Object({
          proof: Type.String({ description: 'Send it as step_up_proof to the route that carries out the action.' }),
          expires_at: Timestamp, challenge_id: Type.String(), action: Action,
          amount: Type.Union([Type.Integer(), Type.Null()]), destination: Type.Union([Type.String(), Type.Null()]),
        }),
        ...problems(400, 401, 404, 409, 413, 415, 422, 429),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      const issued = await approveStepUpChallenge(tx, factorEnv(ctx), {
        walletId: session.walletId, challengeId: request.params.id, presentation: request.body as StepUpPresentation,
      });
      return {
        status: 201,
        body: {
          proof: issued.proof, expires_at: issued.expiresAt.toISOString(), challenge_id: request.params.id,
          action: issued.binding.action, amount: issued.binding.amount, destination: issued.binding.destination,
        },
      };
    });
  });
}
