// Owns liveness, readiness and metrics endpoints for load balancers and Prometheus.
// Must never touch the database in /healthz: a slow database must not get a live process killed.
import { Type } from 'typebox';
import type { App, Ctx } from '../context.js';
import { createError } from '../../errors.js';
import { problems } from '../schemas.js';

const NotReady = createError('not-ready', 503, 'Not ready');

export function registerHealthRoutes(app: App, ctx: Ctx): void {
  app.get('/healthz', {
    schema: { tags: ['operations'], summary: 'Liveness: the process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } },
  }, async () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    schema: {
      tags: ['operations'], summary: 'Readiness: the database answers',
      response: { 200: Type.Object({ status: Type.Literal('ready'), backend: Type.String() }), ...problems(503) },
    },
  }, async () => {
    try {
      await ctx.db.query('SELECT 1');
    } catch {
      throw new NotReady('The database does not answer; retry shortly.');
    }
    return { status: 'ready' as const, backend: ctx.db.backend };
  });

  app.get('/metrics', {
    schema: { tags: ['operations'], summary: 'Prometheus metrics (text exposition format)', produces: ['text/plain'],
      response: { 200: Type.String() } },
  }, async (_request, reply) => {
    const body = await ctx.metrics.registry.metrics();
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
}
