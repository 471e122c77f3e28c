// Owns the partner-bank protocol v2 over HTTP for every sandbox bank, under /banks/{bank_code}/v2 (+ /directory):
// injected faults, then koza's signature, then Idempotency-Key, then the flow. Must never serve an unsigned call.
import type { IncomingMessage } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { IDEMPOTENCY_HEADER, SIGNATURE_HEADER, type DirectoryEntry } from '../../banks/protocol.js';
import { verifyRequest } from '../../banks/signing.js';
import type { Queryable } from '../../store/db.js';
import { bankEnv, bankOf, type BankEnv, type SandboxApp, type SandboxContext } from './context.js';
import { BankError } from './errors.js';
import { requestHash, runIdempotent } from './idempotency.js';
import { completeLinkRequest, createLinkRequest, deliverNotification, linkStateByToken, revokeLinkByToken } from './link-flows.js';
import {
  BankCode, DirectoryEntrySchema, HolderNotificationBodySchema, LinkCompleteBodySchema, LinkCompletedSchema, LinkStateSchema,
  LinkRequestBodySchema, LinkRequestCreatedSchema, LinkRevokedSchema, NotifiedSchema, SignedHeaders, SignedIdempotentHeaders,
  ReturnBodySchema, ReturnResultSchema, StatementSchema, TransferBodySchema, TransferResultSchema, bankProblems,
} from './schemas.js';
import { getTransfer, moveMoney, statementOf } from './transfers.js';
import { returnFurikomi } from './furikomi.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/** The bytes the signature's body hash covers, as they arrived (before JSON parsing). */
const rawBodies = new WeakMap<IncomingMessage, string>();
/** Requests the fault plan holds past the caller's time-out after they were carried out. */
const heldAnswers = new WeakMap<FastifyRequest, number>();

export function keepRawBody(request: FastifyRequest, body: string): void {
  rawBodies.set(request.raw, body);
}

function header(request: FastifyRequest, name: string): string | null {
  const value = request.headers[name];
  return typeof value === 'string' ? value : null;
}

/** Waits, but not past the sandbox's close. */
async function pause(ms: number, closing: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal: closing }).catch(() => {});
}

export function directoryEntry(ctx: SandboxContext, bankCode: string): DirectoryEntry {
  const bank = bankOf(ctx, bankCode);
  return {
    bank_code: bank.code, name: bank.name, name_kana: bank.nameKana, link_methods: [...bank.linkMethods],
    status: ctx.faults.status(bank.code),
  };
}

const BankParams = Type.Object({ bank_code: BankCode });

export function registerProtocolRoutes(app: SandboxApp, ctx: SandboxContext): void {
  app.get('/directory', {
    schema: {
      tags: ['directory'], summary: 'Every bank of the sandbox (unsigned: it names no bank to sign for)',
      response: { 200: Type.Array(DirectoryEntrySchema) },
    },
  }, async () => [...ctx.banks.keys()].map((code) => directoryEntry(ctx, code)));

  void app.register(async (bankApp: SandboxApp) => {
    bankApp.addHook('onRequest', async (request) => {
      const bankCode = (request.params as { bank_code: string }).bank_code;
      bankOf(ctx, bankCode);
      const plan = ctx.faults.plan(bankCode);
      if (plan.latencyMs > 0) await pause(plan.latencyMs, ctx.closing);
      if (plan.outcome.kind === 'unavailable') throw new BankError('unavailable', 'The bank is not answering (injected fault).');
      if (plan.outcome.kind === 'timeout') {
        if (!plan.outcome.apply) {
          await pause(plan.outcome.holdMs, ctx.closing);
          throw new BankError('unavailable', 'The bank did not answer in time (injected fault).');
        }
        heldAnswers.set(request, plan.outcome.holdMs);
      }
    });

    // Before schema validation: an unsigned request learns nothing, not even that its body was malformed.
    bankApp.addHook('preValidation', async (request) => {
      const bankCode = (request.params as { bank_code: string }).bank_code;
      const key = ctx.keys.get(bankCode)!;
      const failure = await verifyRequest(key.publicKey, key.nonces, {
        method: request.method, path: request.url, body: rawBodies.get(request.raw),
        idempotencyKey: header(request, IDEMPOTENCY_HEADER), signature: header(request, SIGNATURE_HEADER) ?? undefined,
      });
      if (failure !== null) throw new BankError('unauthorized_signature', `The Koza-Signature is refused: ${failure}.`);
    });

    // The bank did the work; the answer is lost on the way (koza times out): only the transfer query can tell.
    bankApp.addHook('onSend', async (request, _reply, payload) => {
      const hold = heldAnswers.get(request);
      if (hold !== undefined) await pause(hold, ctx.closing);
      return payload;
    });

    /** The typed answer, or its replay: a stored refusal (a counted wrong PIN) is replayed as the same problem. */
    async function answerOnce<T>(
      request: FastifyRequest<{ Params: { bank_code: string } }>, reply: FastifyReply, status: number,
      op: (tx: Queryable, env: BankEnv) => Promise<T>, options: { secret?: boolean } = {},
    ): Promise<T> {
      const env = bankEnv(ctx, request.params.bank_code);
      const answer = await runIdempotent(ctx.db, {
        bankCode: env.bank.code, key: header(request, IDEMPOTENCY_HEADER)!, now: env.now,
        requestHash: requestHash(ctx.secretKey, request.method, request.url, rawBodies.get(request.raw)),
      }, async (tx) => ({ status, body: await op(tx, env) }), options.secret ? { sealWith: ctx.secretKey } : {});
      void reply.code(answer.status);
      if (answer.status >= 400) void reply.type(PROBLEM_CONTENT_TYPE);
      return answer.body as T;
    }

    const signedGet = { tags: ['protocol'], security: [{ kozaSignature: [] }], headers: SignedHeaders };
    const signedPost = { tags: ['protocol'], security: [{ kozaSignature: [] }], headers: SignedIdempotentHeaders };

    bankApp.get('/directory', {
      schema: {
        ...signedGet, summary: 'This bank\'s directory entry', params: BankParams,
        response: { 200: DirectoryEntrySchema, ...bankProblems(401, 404, 503) },
      },
    }, async (request) => directoryEntry(ctx, request.params.bank_code));

    bankApp.post('/link-requests', {
      schema: {
        ...signedPost, summary: 'Create a link request: redirect (pushed authorization request with PKCE), pin_otp or pin_only',
        params: BankParams, body: LinkRequestBodySchema,
        response: { 201: LinkRequestCreatedSchema, ...bankProblems(400, 401, 404, 409, 423, 503) },
      },
    }, async (request, reply) => answerOnce(request, reply, 201, (tx, env) => createLinkRequest(tx, env, request.body)));

    bankApp.post('/link-requests/:link_request_id/complete', {
      schema: {
        ...signedPost, summary: 'Complete a link request: code + code_verifier (redirect), otp (pin_otp), nothing (pin_only)',
        params: Type.Object({ bank_code: BankCode, link_request_id: Type.String({ maxLength: 64 }) }),
        body: LinkCompleteBodySchema,
        response: { 201: LinkCompletedSchema, ...bankProblems(400, 401, 404, 409, 410, 503) },
      },
    }, async (request, reply) => answerOnce(request, reply, 201,
      (tx, env) => completeLinkRequest(tx, env, request.params.link_request_id, request.body), { secret: true }));

    bankApp.post('/links/:link_token/revoke', {
      schema: {
        ...signedPost, summary: 'Revoke a link (idempotent)',
        params: Type.Object({ bank_code: BankCode, link_token: Type.String({ maxLength: 128 }) }),
        body: Type.Optional(Type.Object({}, { additionalProperties: false })),
        response: { 200: LinkRevokedSchema, ...bankProblems(400, 401, 404, 409, 503) },
      },
    }, async (request, reply) => answerOnce(request, reply, 200, (tx, env) => revokeLinkByToken(tx, env, request.params.link_token)));

    bankApp.get('/links/:link_token', {
      schema: {
        ...signedGet, summary: 'v2: the link as the bank sees it (holder confirmation, revocation and by whom)',
        params: Type.Object({ bank_code: BankCode, link_token: Type.String({ maxLength: 128 }) }),
        response: { 200: LinkStateSchema, ...bankProblems(401, 404, 503) },
      },
    }, async (request) => linkStateByToken(ctx.db, bankEnv(ctx, request.params.bank_code), request.params.link_token));

    bankApp.post('/notifications', {
      schema: {
        ...signedPost, summary: 'A message to the holder through the bank\'s own channels (inbox, e-mail, SMS); answers the channels used',
        params: BankParams, body: HolderNotificationBodySchema,
        response: { 200: NotifiedSchema, ...bankProblems(400, 401, 404, 409, 503) },
      },
    }, async (request, reply) => answerOnce(request, reply, 200, (tx, env) => deliverNotification(tx, env, request.body)));

    for (const kind of ['debit', 'credit'] as const) {
      bankApp.post(`/${kind}s`, {
        schema: {
          ...signedPost,
          summary: kind === 'debit'
            ? 'Debit the linked account (charge): holder → koza settlement; a rejection is an answer with a reason'
            : 'Credit the linked account (withdrawal, compensation): koza settlement → holder',
          params: BankParams, body: TransferBodySchema,
          response: { 200: TransferResultSchema, ...bankProblems(400, 401, 404, 409, 503) },
        },
      }, async (request, reply) => answerOnce(request, reply, 200, (tx, env) => moveMoney(tx, env, kind, request.body)));
    }

    bankApp.post('/returns', {
      schema: {
        ...signedPost, summary: '§10: send a pay-in received into koza\'s account back to its sender (whole amount, once per transfer)',
        params: BankParams, body: ReturnBodySchema,
        response: { 200: ReturnResultSchema, ...bankProblems(400, 401, 404, 409, 503) },
      },
    }, async (request, reply) => answerOnce(request, reply, 200, (tx, env) => returnFurikomi(tx, env, request.body)));

    bankApp.get('/transfers/:reference', {
      schema: {
        ...signedGet, summary: 'The bank\'s record of a debit or credit, by koza\'s reference',
        params: Type.Object({ bank_code: BankCode, reference: Type.String({ maxLength: 64 }) }),
        response: { 200: TransferResultSchema, ...bankProblems(401, 404, 503) },
      },
    }, async (request) => getTransfer(ctx.db, bankEnv(ctx, request.params.bank_code), request.params.reference));

    bankApp.get('/statements/:date', {
      schema: {
        ...signedGet, summary: 'Every koza debit and credit booked on a JST day, by reference',
        params: Type.Object({ bank_code: BankCode, date: Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$' }) }),
        response: { 200: StatementSchema, ...bankProblems(400, 401, 404, 503) },
      },
    }, async (request) => statementOf(ctx.db, bankEnv(ctx, request.params.bank_code), request.params.date));
  }, { prefix: '/banks/:bank_code/v2' });
}
