// Owns starting and stopping the bank sandbox: its own schema (bank_sandbox), migrations, seeding, one HTTP listener for
// every bank's protocol, holder pages, admin routes and OpenAPI document. Must never serve before it is seeded.
import { createHmac } from 'node:crypto';
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { DirectoryEntry } from '../../banks/protocol.js';
import { deriveBankKeyPair, NonceCache } from '../../banks/signing.js';
import { openDb, type Db } from '../../store/db.js';
import { createSandboxAdmin, registerAdminRoutes, type SandboxAdmin } from './admin.js';
import type { SandboxApp, SandboxContext } from './context.js';
import { BankError, toBankProblem } from './errors.js';
import { FaultBook } from './faults.js';
import { PayInNotices } from './pay-in-notices.js';
import { HolderPageError, registerHolderPages, renderHolderError, sendPage } from './holder-pages.js';
import { PROBLEM_CONTENT_TYPE, directoryEntry, keepRawBody, registerProtocolRoutes } from './protocol-routes.js';
import { DEFAULT_BANK_COUNT, seedBankSandbox } from './seed.js';
import { ensureSeeded, migrateBankSandbox } from './store.js';
import { DEFAULT_POPULATION_SEED } from '../population.js';

export const BANK_SANDBOX_SCHEMA = 'bank_sandbox';

export interface BankSandboxOptions {
  /** The population seed (default 2020): the same persons the eKYC sandbox verifies. */
  seed?: number;
  bankCount?: number;
  /** Shared with koza: bank b verifies koza's requests with deriveBankKeyPair(keySeed, b).publicKey. */
  keySeed: string;
  /** 0 (default): any free port. */
  port?: number;
  host?: string;
  /** Where the sandbox keeps its books; default an in-memory PGlite on schema bank_sandbox. Left open on close. */
  db?: Db;
  /** The URL holders and koza reach the sandbox at, when not the listening address (a proxy, a container). */
  publicUrl?: string;
  /** The business clock (expiries, booking dates); tests move it. Signatures are checked against real time. */
  now?: () => Date;
  /** koza's URL, where the banks report pay-ins (§10); also settable later with deliverPayInsTo (koza starts second). */
  kozaUrl?: string;
}

export interface RunningBankSandbox {
  url: string;
  banks: DirectoryEntry[];
  admin: SandboxAdmin;
  /** Where the banks report incoming transfers to koza's virtual accounts (§10); null: nobody (the statement tells). */
  deliverPayInsTo(kozaUrl: string | null): void;
  close(): Promise<void>;
}

/** Which answers are pages (holder-facing) rather than problems (koza- and operator-facing). */
const HOLDER_PAGE = /^\/banks\/(\d{4})\/(?!v2\/)/;

export async function startBankSandbox(options: BankSandboxOptions): Promise<RunningBankSandbox> {
  if (!options.keySeed) throw new Error('startBankSandbox needs keySeed, the seed koza derives its bank keys from');
  const world = seedBankSandbox({ seed: options.seed ?? DEFAULT_POPULATION_SEED, bankCount: options.bankCount ?? DEFAULT_BANK_COUNT });
  const ownDb = options.db === undefined;
  const db = options.db ?? await openDb({ dataDir: 'memory://', schema: BANK_SANDBOX_SCHEMA });
  const closing = new AbortController();
  let app: SandboxApp | undefined;
  try {
    const now = options.now ?? (() => new Date());
    await migrateBankSandbox(db);
    await ensureSeeded(db, world, now());
    let publicUrl = options.publicUrl?.replace(/\/+$/, '') ?? '';
    const ctx: SandboxContext = {
      db, now, world,
      banks: new Map(world.banks.map((b) => [b.code, b])),
      keys: new Map(world.banks.map((b) => [b.code, { publicKey: deriveBankKeyPair(options.keySeed, b.code).publicKey, nonces: new NonceCache() }])),
      faults: new FaultBook(world.seed),
      secretKey: createHmac('sha256', options.keySeed).update('koza-bank-sandbox:secret-key').digest(),
      publicUrl: () => publicUrl,
      payInNotices: new PayInNotices(options.keySeed),
      closing: closing.signal,
    };
    if (options.kozaUrl) ctx.payInNotices.deliverTo(options.kozaUrl);
    const admin = createSandboxAdmin(ctx);
    app = await buildSandboxApp(ctx, admin);
    const listening = await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
    if (!publicUrl) publicUrl = listening;
    const running = app;
    return {
      url: publicUrl,
      banks: world.banks.map((b) => directoryEntry(ctx, b.code)),
      admin,
      deliverPayInsTo: (kozaUrl) => ctx.payInNotices.deliverTo(kozaUrl),
      async close() {
        closing.abort();
        await running.close();
        if (ownDb) await db.close();
      },
    };
  } catch (err) {
    closing.abort();
    await app?.close().catch(() => {});
    if (ownDb) await db.close().catch(() => {});
    throw err;
  }
}

async function buildSandboxApp(ctx: SandboxContext, admin: SandboxAdmin): Promise<SandboxApp> {
  const app = Fastify({
    // Tokens travel in paths (links/{token}/revoke) and PINs in bodies: the sandbox logs nothing.
    logger: false,
    bodyLimit: 64 * 1024,
    trustProxy: false,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as SandboxApp;

  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    keepRawBody(request, body as string);
    parseJson(request, body as string, done);
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.setErrorHandler((err, request, reply) => {
    const page = HOLDER_PAGE.exec(request.url);
    if (page) {
      const status = err instanceof HolderPageError || err instanceof BankError ? err.status : toBankProblem(err).status;
      const message = err instanceof HolderPageError ? err.message
        : status < 500 ? '入力内容を確認してください。 Please check what you entered.' : 'ただいまご利用いただけません。 Please try again later.';
      const markup = renderHolderError(ctx, page[1]!, message);
      if (markup) return sendPage(reply, markup, status);
    }
    const problem = toBankProblem(err);
    return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = toBankProblem(new BankError('invalid_request', `No route ${request.method} ${request.url.split('?')[0]}.`, { status: 404 }));
    return reply.code(404).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'koza partner-bank protocol v2 (bank sandbox)',
        version: '2.0.0',
        description: 'What each partner bank exposes to koza (docs/bank-protocol.md), served for every sandbox bank under '
          + '/banks/{bank_code}/v2, with the holder pages and the sandbox admin routes. Every protocol call carries a '
          + 'Koza-Signature; every POST an Idempotency-Key. Errors are RFC 9457 problems with a `code`.',
      },
      components: {
        securitySchemes: {
          kozaSignature: {
            type: 'apiKey', in: 'header', name: 'Koza-Signature',
            description: 'Compact JWS (EdDSA, Ed25519) over {m, p, b, k, n, iat}: method, path, body hash, Idempotency-Key, nonce, time.',
          },
        },
      },
    },
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  registerProtocolRoutes(app, ctx);
  registerHolderPages(app, ctx);
  registerAdminRoutes(app, ctx, admin);
  await app.ready();
  return app;
}
