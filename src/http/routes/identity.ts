// Owns the eKYC routes (level L2): submit a verification, read the verified identity, and the sandbox
// provider's controls. Must never offer a way to edit a verified identity, nor name another wallet.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { gateOnRisk } from '../risk-gate.js';
import { keyedHash } from '../../identity/secrets.js';
import { canonicalKana } from '../../identity/verification/person-key.js';
import { requireSession, sessionPolicy } from '../context.js';
import { runIdempotent } from '../idempotency.js';
import { IdempotencyHeaders, nextCursor, PageQuery, pageOf, parsePage, problems, Timestamp, RotatedSession } from '../schemas.js';
import { createError, NotFound, SandboxOnly } from '../../errors.js';
import { rotateSession } from '../../identity/sessions.js';
import { getVerifiedIdentity, listVerifications, type IdentityVerification, type VerifiedIdentity } from '../../identity/verification/store.js';
import {
  IdentityProviderUnavailable, submitIdentityVerification, VERIFICATION_ATTEMPTS_PER_DAY,
} from '../../identity/verification/verify-identity.js';
import type { IdentityVerifier } from '../../identity/verification/verifier.js';
import { SandboxIdentityProvider, type SandboxIdentity } from '../../sandbox/identity-provider.js';

export const IdentityImmutable = createError('identity-immutable', 405, 'A verified identity cannot be edited');

const DocumentTypeSchema = Type.Union([Type.Literal('drivers_licence'), Type.Literal('my_number_card')]);
const DocumentNumber = Type.String({ pattern: '^[0-9]{12}$', description: '12 digits as printed on the document.' });

const AddressSchema = Type.Object({
  prefecture: Type.String({ minLength: 2, maxLength: 8, examples: ['東京都'] }),
  city: Type.String({ minLength: 1, maxLength: 32, examples: ['千代田区'] }),
  street: Type.String({ minLength: 1, maxLength: 128, examples: ['本町2丁目3番4号'] }),
}, { additionalProperties: false });

export const SubmissionBody = Type.Object({
  document_type: DocumentTypeSchema,
  document_number: DocumentNumber,
  name_kanji: Type.String({ minLength: 1, maxLength: 64, examples: ['佐藤 翔太'] }),
  name_kana: Type.String({
    minLength: 1, maxLength: 64, examples: ['サトウ ショウタ'],
    description: 'The reading of the name in kana (katakana or hiragana, any width), family and given name separated by a space.',
  }),
  date_of_birth: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', examples: ['1990-04-01'] }),
  address: AddressSchema,
  selfie_token: Type.String({
    minLength: 1, maxLength: 512, pattern: '^[\\x21-\\x7e]+$',
    description: 'The token the provider\'s capture SDK issued for the selfie and liveness check. In sandbox mode any '
      + 'token is a live, matching selfie, except sandbox-fail, sandbox-forged-document and sandbox-selfie-mismatch, '
      + 'which force that outcome for this submission.',
  }),
}, { additionalProperties: false });

const IdentitySchema = Type.Object({
  id: Type.String(),
  name_kanji: Type.String(),
  name_kana: Type.String({ description: 'Full-width katakana as the provider verified it; the name bank accounts must match.' }),
  date_of_birth: Type.String({ examples: ['1990-04-01'] }),
  address: Type.Object({
    prefecture: Type.String(), city: Type.String(), street: Type.String({ description: 'House numbers masked.' }),
  }),
  document: Type.Object({ type: DocumentTypeSchema, last4: Type.String() }),
  provider: Type.String(),
  verified_at: Timestamp,
});

const VerificationSchema = Type.Object({
  id: Type.String({ examples: ['kyc_…'] }),
  status: Type.Union([
    Type.Literal('pending'), Type.Literal('verified'), Type.Literal('failed'), Type.Literal('flagged'), Type.Literal('refused'),
  ], { description: 'flagged: the provider suspected fraud (what it suspected is not shown); refused: koza refused a pass.' }),
  reason: Type.Union([Type.String(), Type.Null()], {
    description: 'failed: document_unknown | claimed_data_mismatch | declined; refused: duplicate_identity | different_person.',
  }),
  document: Type.Object({ type: DocumentTypeSchema, last4: Type.String() }),
  created_at: Timestamp,
  completed_at: Type.Union([Timestamp, Type.Null()]),
});

/** Street numbers are enough to find a door: a stolen session reads the town, not the house. */
function maskStreet(street: string): string {
  return street.replace(/[0-9０-９一二三四五六七八九十〇]/g, '*');
}

function identityJson(identity: VerifiedIdentity) {
  return {
    id: identity.id, name_kanji: identity.nameKanji, name_kana: identity.nameKana, date_of_birth: identity.dateOfBirth,
    address: { prefecture: identity.address.prefecture, city: identity.address.city, street: maskStreet(identity.address.street) },
    document: { type: identity.documentType, last4: identity.documentLast4 },
    provider: identity.provider, verified_at: identity.verifiedAt.toISOString(),
  };
}

function verificationJson(v: IdentityVerification) {
  return {
    id: v.id, status: v.status,
    // What a provider suspected stays with analysts (risk signals); a forger learns only that it was flagged.
    reason: v.status === 'flagged' ? null : v.reason,
    document: { type: v.documentType, last4: v.documentLast4 },
    created_at: v.createdAt.toISOString(), completed_at: v.completedAt?.toISOString() ?? null,
  };
}

/** The verifier is the sandbox provider in sandbox mode; a real provider adapter is passed in otherwise. */
export function registerIdentityRoutes(
  app: App, ctx: Ctx,
  verifier: IdentityVerifier | null = ctx.config.sandbox ? new SandboxIdentityProvider({ seed: ctx.config.sandboxSeed }) : null,
): void {
  app.post('/v1/identity/verifications', {
    schema: {
      tags: ['identity'], summary: 'Verify the wallet holder\'s identity (eKYC); on a pass the wallet reaches level L2',
      description: 'Needs level L1 (verified phone). The provider checks the document, the selfie and the details; on a pass '
        + 'koza stores the provider\'s record of the person (not the details sent here), raises the wallet to L2 and '
        + 'rotates the session (use the returned token). One person may verify one wallet: a person or document '
        + 'already verified for another wallet is refused (409 duplicate-identity). A verified wallet may re-verify the '
        + 'same person (history is kept) but never a different one (409 identity-person-changed). '
        + `At most ${VERIFICATION_ATTEMPTS_PER_DAY} submissions per wallet per 24 hours.`,
      security: [{ session: [] }],
      headers: IdempotencyHeaders,
      body: SubmissionBody,
      response: {
        201: Type.Object({
          verification: VerificationSchema,
          identity: Type.Union([IdentitySchema, Type.Null()], { description: 'The wallet\'s live verified identity after this submission.' }),
          assurance_level: Type.Union([Type.Literal('L0'), Type.Literal('L1'), Type.Literal('L2')]),
          session: Type.Optional(RotatedSession),
        }),
        ...problems(400, 401, 403, 409, 413, 415, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const session = await requireSession(ctx, request);
    if (!verifier) throw new IdentityProviderUnavailable('No identity-verification provider is configured.');
    return runIdempotent(ctx.db, ctx.config.secretKey, request, reply, { scope: session.walletId, sensitive: true }, async (tx) => {
      const { body } = request;
      // Many names on one device is a farm of stolen identities; the name is counted keyed, never in clear.
      await gateOnRisk(ctx, request, tx, {
        kind: 'kyc_submit', walletId: session.walletId,
        attributes: { name_key: keyedHash(ctx.config.secretKey, 'risk-name-v1', canonicalKana(body.name_kana)), document_type: body.document_type },
      });
      const result = await submitIdentityVerification(tx, { secretKey: ctx.config.secretKey, verifier }, {
        walletId: session.walletId, documentType: body.document_type, documentNumber: body.document_number,
        claimed: {
          nameKanji: body.name_kanji, nameKana: body.name_kana, dateOfBirth: body.date_of_birth, address: { ...body.address },
        },
        selfieToken: body.selfie_token,
      });
      // A verified identity is a privilege change: a token stolen before it must not inherit L2.
      const rotated = result.verification.status === 'verified'
        ? await rotateSession(tx, sessionPolicy(ctx), session.sessionId) : null;
      return {
        status: 201,
        body: {
          verification: verificationJson(result.verification),
          identity: result.identity ? identityJson(result.identity) : null,
          assurance_level: result.assuranceLevel,
          ...(rotated ? { session: { session_id: rotated.sessionId, token: rotated.token, expires_at: rotated.expiresAt.toISOString() } } : {}),
        },
      };
    });
  });

  app.get('/v1/identity/verifications', {
    schema: {
      tags: ['identity'], summary: 'The wallet\'s identity verification submissions, newest first (cursor pagination)',
      security: [{ session: [] }],
      querystring: PageQuery,
      response: { 200: pageOf(VerificationSchema), ...problems(400, 401) },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const page = parsePage(request.query);
    const rows = await listVerifications(ctx.db, session.walletId, page);
    return { data: rows.map(verificationJson), next_cursor: nextCursor(rows, page.limit) };
  });

  app.get('/v1/identity', {
    schema: {
      tags: ['identity'], summary: 'The wallet\'s verified identity: the only name it can use for bank matching',
      description: 'status unverified with identity null until an eKYC submission passes. There is no way to edit it: '
        + 'PUT, PATCH and DELETE answer 405; submit a new verification instead.',
      security: [{ session: [] }],
      response: {
        200: Type.Object({
          status: Type.Union([Type.Literal('verified'), Type.Literal('unverified')]),
          identity: Type.Union([IdentitySchema, Type.Null()]),
        }),
        ...problems(401),
      },
    },
  }, async (request) => {
    const session = await requireSession(ctx, request);
    const identity = await getVerifiedIdentity(ctx.db, session.walletId);
    return identity
      ? { status: 'verified' as const, identity: identityJson(identity) }
      : { status: 'unverified' as const, identity: null };
  });

  app.route({
    method: ['PUT', 'PATCH', 'DELETE'],
    url: '/v1/identity',
    schema: {
      tags: ['identity'], summary: 'Always refused: a verified identity cannot be edited or removed, only re-verified',
      response: problems(405),
    },
    handler: async (_request, reply) => {
      void reply.header('allow', 'GET');
      throw new IdentityImmutable('Your verified identity cannot be changed. To update it, submit a new verification '
        + '(POST /v1/identity/verifications) with a current document.');
    },
  });

  registerSandboxIdentityRoutes(app, ctx, verifier instanceof SandboxIdentityProvider ? verifier : null);
}

const BehaviourSchema = Type.Union([
  Type.Literal('pass'), Type.Literal('fail'), Type.Literal('forged_document'), Type.Literal('selfie_mismatch'),
]);

const SandboxIdentitySchema = Type.Object({
  index: Type.Integer(),
  sex: Type.Union([Type.Literal('female'), Type.Literal('male')]),
  name_kanji: Type.String(),
  name_kana: Type.String(),
  date_of_birth: Type.String(),
  address: Type.Object({ prefecture: Type.String(), city: Type.String(), street: Type.String() }),
  document_type: DocumentTypeSchema,
  document_number: Type.String(),
  phone: Type.String(),
  behaviour: BehaviourSchema,
});

function sandboxIdentityJson({ person, behaviour }: SandboxIdentity) {
  return {
    index: person.index, sex: person.sex, name_kanji: person.nameKanji, name_kana: person.nameKana,
    date_of_birth: person.dateOfBirth, address: { ...person.address }, document_type: person.document.type,
    document_number: person.document.number, phone: person.phone, behaviour,
  };
}

function registerSandboxIdentityRoutes(app: App, ctx: Ctx, sandboxProvider: SandboxIdentityProvider | null): void {
  const sandbox = (): SandboxIdentityProvider => {
    if (!ctx.config.sandbox || !sandboxProvider) throw new SandboxOnly('Sandbox routes are disabled (KOZA_SANDBOX=false).');
    return sandboxProvider;
  };

  app.get('/v1/sandbox/identities', {
    schema: {
      tags: ['sandbox'], summary: 'Seeded persons the sandbox identity provider holds (sandbox mode only)',
      description: 'Submit one of these to POST /v1/identity/verifications with its document and details to pass. '
        + 'The same persons (same seed) are the bank sandbox\'s account holders.',
      querystring: Type.Object({
        limit: Type.Optional(Type.String({ pattern: '^[1-9][0-9]{0,2}$', description: '1 to 100; default 20.' })),
        offset: Type.Optional(Type.String({ pattern: '^(0|[1-9][0-9]{0,5})$', description: 'Index of the first person; default 0.' })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ data: Type.Array(SandboxIdentitySchema), next_offset: Type.Union([Type.Integer(), Type.Null()]) }),
        ...problems(400, 403),
      },
    },
  }, async (request) => {
    const provider = sandbox();
    const limit = Math.min(Number(request.query.limit ?? 20), 100);
    const offset = Number(request.query.offset ?? 0);
    const rows = provider.list(offset, limit);
    return { data: rows.map(sandboxIdentityJson), next_offset: offset + limit < provider.size ? offset + limit : null };
  });

  app.put('/v1/sandbox/identities/:document_number/behaviour', {
    schema: {
      tags: ['sandbox'], summary: 'Tell the sandbox provider what to answer for this person\'s document (sandbox mode only)',
      description: 'pass (default; the claimed details must still match), fail, forged_document (flagged) or '
        + 'selfie_mismatch (flagged). Setting a behaviour is idempotent by itself (PUT), so no Idempotency-Key. '
        + 'Held by the running process; a restart resets every person to pass.',
      params: Type.Object({ document_number: DocumentNumber }),
      body: Type.Object({ outcome: BehaviourSchema }, { additionalProperties: false }),
      response: { 200: SandboxIdentitySchema, ...problems(400, 403, 404, 413, 415) },
    },
  }, async (request) => {
    const provider = sandbox();
    if (!provider.setBehaviour(request.params.document_number, request.body.outcome)) {
      throw new NotFound('The sandbox holds no person with this document number.');
    }
    return sandboxIdentityJson(provider.find(request.params.document_number)!);
  });
}
