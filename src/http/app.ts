// Owns the HTTP application: Fastify with schemas, problem+json errors, logs, metrics, limits, OpenAPI.
// Must never answer a client's mistake with a 500, nor log a body, a token or a one-time code.
import Fastify from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import type { Config } from '../config.js';
import { NotFound, RateLimited, retryIn } from '../errors.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';
import { createMetrics } from './metrics.js';
import { allowAll, type RiskDecider } from '../risk/hook.js';
import { riskEngine } from '../risk/engine.js';
import { CachedCounterStore, PostgresCounterStore } from '../risk/counters.js';
import { DEFAULT_RULE_FILE, loadRuleFile } from '../risk/rule-file.js';
import type { RuleSet } from '../risk/rules.js';
import { BankClient, keysFromSeed } from '../banks/client.js';
import type { App, Ctx } from './context.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerSignupRoutes } from './routes/signup.js';
import { registerSessionRoutes } from './routes/sessions.js';
import { registerWalletRoutes } from './routes/wallet.js';
import { registerMerchantRoutes } from './routes/merchants.js';
import { registerPaymentRoutes } from './routes/payments.js';
import { registerSandboxRoutes } from './routes/sandbox.js';
import { registerPhoneRoutes } from './routes/phone.js';
import { registerAdminRoutes } from './routes/admin.js';
import { registerMovementRoutes } from './routes/movements.js';
import { registerIdentityRoutes } from './routes/identity.js';
import { SandboxIdentityProvider } from '../sandbox/identity-provider.js';
import { registerFactorRoutes } from './routes/factors.js';
import { registerFactorResetRoutes } from './routes/factor-reset.js';
import { registerStepUpRoutes } from './routes/step-up.js';
import { registerLinkRoutes } from './routes/links.js';
import { registerRiskRoutes } from './routes/risk.js';
import { registerPayInRoutes } from './routes/pay-ins.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

export interface BuildOptions {
  db: Db;
  config: Config;
  /** Log destination; tests pass a stream to read what was logged. */
  logStream?: NodeJS.WritableStream;
  /** The risk decision function; by default the rule engine (or allow-all when it is off). */
  risk?: RiskDecider;
  /** The current rule set for the default engine (hot reload); by default the rule file as loaded at build. */
  rules?: () => RuleSet;
  /** The partner-bank client; by default built from KOZA_BANK_SANDBOX_URL and KOZA_BANK_KEY_SEED. */
  banks?: BankClient | null;
}

/** Whether the rule engine runs: configured on, and never under legacy-2020 (the 2020 wallet had none, SPEC §9). */
export function riskEngineEnabled(config: Config): boolean {
  return config.riskEngine && config.policy !== 'legacy-2020';
}

/**
 * The current rule set when the engine is on: `rules` when given (koza start passes a hot-reloading one), else the
 * configured file as loaded now — a bad rule file stops the start with its error. Undefined when the engine is off.
 */
function currentRules(config: Config, rules?: () => RuleSet): (() => RuleSet) | undefined {
  if (!riskEngineEnabled(config)) return undefined;
  if (rules) return rules;
  const fixed = loadRuleFile(config.riskRulesFile ?? DEFAULT_RULE_FILE);
  return () => fixed;
}

/** The rule engine over shared counters when switched on (rules given), allow-all when it is off. */
function defaultRisk(db: Db, config: Config, rules: (() => RuleSet) | undefined): RiskDecider {
  if (!rules) return allowAll;
  return riskEngine({ db, store: new CachedCounterStore(new PostgresCounterStore()), rules, shadow: config.riskShadow });
}

function bankClientFrom(config: Config): BankClient | null {
  if (config.bankSandboxUrl === undefined || config.bankKeySeed === undefined) return null;
  return new BankClient({ baseUrl: config.bankSandboxUrl, keyFor: keysFromSeed(config.bankKeySeed), timeoutMs: config.bankTimeoutMs });
}

/**
 * What an unexpected error may put in a log. A logger copies every field of an error, and database errors
 * carry the query's parameters (PGlite: params, holding e-mail bodies with one-time codes, hashes) and the
 * offending values (PostgreSQL: detail); so only these named fields are kept.
 */
function loggableError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: `non-error thrown: ${typeof err}` };
  const { code, constraint, routine } = err as { code?: unknown; constraint?: unknown; routine?: unknown };
  return { name: err.name, message: err.message, code, constraint, routine, stack: err.stack };
}

export async function buildApp(options: BuildOptions): Promise<App> {
  const { db, config } = options;
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : {
      level: config.logLevel,
      ...(options.logStream ? { stream: options.logStream } : {}),
      // Fastify's request serializer logs method, url and address only; headers are never logged.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'], remove: true },
      // Paths only: query strings can carry OAuth codes and states (the link callback) or e-mail addresses.
      serializers: {
        req: (req: { method: string; url: string; ip?: string; socket?: { remoteAddress?: string } }) => ({
          method: req.method, url: req.url.split('?')[0], remoteAddress: req.ip ?? req.socket?.remoteAddress,
        }),
      },
    },
    bodyLimit: config.bodyLimitBytes,
    // Not requestIdHeader: with it Fastify takes the client's header as is and never calls genReqId, so
    // any text (quotes, kilobytes) would reach the logs and the x-request-id we echo. genReqId checks it.
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : `req_${randomBytes(12).toString('base64url')}`;
    },
    // Off unless configured: X-Forwarded-For from an untrusted peer would let any client pick the address rules count by.
    trustProxy: config.trustProxy,
    ajv: {
      customOptions: {
        // Strict input: no stripping of unknown fields, no "100" → 100, no defaults invented.
        removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false,
      },
    },
  }).withTypeProvider<TypeBoxTypeProvider>() as unknown as App;

  // Fastify parses text/plain bodies into strings by default; the API speaks JSON only, so any other
  // content type is a 415, not a 400 from a schema that was handed a string.
  app.removeContentTypeParser('text/plain');

  const metrics = createMetrics();
  const rules = currentRules(config, options.rules);
  const ctx: Ctx = {
    db, config, metrics, risk: options.risk ?? defaultRisk(db, config, rules),
    banks: options.banks === undefined ? bankClientFrom(config) : options.banks,
    ...(rules ? { rules } : {}),
  };

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.httpRequests.inc({ method: request.method, route, status: String(reply.statusCode) });
    metrics.httpDuration.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err, request, reply) => {
    const problem = toProblem(err, request.url);
    if (problem.status >= 500) request.log.error({ err: loggableError(err) }, 'unhandled error');
    // A throttled client is told when to come back in the header HTTP clients read (RFC 9110 §10.2.3), not only the body.
    if (problem.status === 429 && typeof problem.retry_after_s === 'number') void reply.header('retry-after', String(problem.retry_after_s));
    void reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });
  app.setNotFoundHandler((request, reply) => {
    const problem = toProblem(new NotFound(`No route ${request.method} ${request.url.split('?')[0]}.`), request.url);
    void reply.code(404).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(problem));
  });

  await app.register(rateLimit, {
    global: true,
    max: config.rateLimitPerMinute,
    timeWindow: 60_000,
    allowList: (request) => ['/healthz', '/readyz', '/metrics'].includes(request.url),
    errorResponseBuilder: (_request, context) => {
      const err = new RateLimited(`Slow down: at most ${context.max} requests a minute from one client.`, retryIn(context.ttl / 1000));
      return Object.assign(err, { statusCode: 429 });
    },
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'koza API',
        version: '1.0.0',
        description: 'A bank-linked e-payment wallet. Every POST that changes state takes an Idempotency-Key header. '
          + 'Errors are RFC 9457 application/problem+json.',
      },
      components: {
        securitySchemes: {
          session: { type: 'http', scheme: 'bearer', description: 'A session token (kzs_…) from POST /v1/sessions.' },
          merchantKey: { type: 'http', scheme: 'bearer', description: 'A merchant API key (kzm_…) from POST /v1/merchants.' },
          operatorKey: { type: 'http', scheme: 'bearer', description: 'An operator API key (kzo_…) from `koza operator create`.' },
        },
      },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  app.decorate('koza', ctx);
  registerHealthRoutes(app, ctx);
  registerSignupRoutes(app, ctx);
  registerSessionRoutes(app, ctx);
  registerWalletRoutes(app, ctx);
  // One provider for people and businesses: the sandbox's behaviours set through one route must reach both checks.
  const verifier = config.sandbox ? new SandboxIdentityProvider({ seed: config.sandboxSeed }) : null;
  registerMerchantRoutes(app, ctx, verifier);
  registerPaymentRoutes(app, ctx);
  registerSandboxRoutes(app, ctx);
  registerPhoneRoutes(app, ctx);
  registerAdminRoutes(app, ctx);
  registerMovementRoutes(app, ctx);
  registerIdentityRoutes(app, ctx, verifier);
  registerFactorRoutes(app, ctx);
  registerFactorResetRoutes(app, ctx, verifier);
  registerStepUpRoutes(app, ctx);
  registerLinkRoutes(app, ctx);
  registerRiskRoutes(app, ctx);
  registerPayInRoutes(app, ctx);
  return app;
}
