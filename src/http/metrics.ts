// Owns the Prometheus metrics koza exposes at GET /metrics.
// Must never label a metric with a secret or an unbounded value (ids, e-mails): labels are route templates.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  httpDuration: Histogram<'method' | 'route'>;
  moneyMovements: Counter<'code'>;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'koza_http_requests_total', help: 'HTTP requests answered', labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    httpDuration: new Histogram({
      name: 'koza_http_request_duration_seconds', help: 'HTTP request duration', labelNames: ['method', 'route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
    }),
    moneyMovements: new Counter({
      name: 'koza_money_movements_total', help: 'Ledger transfers created by API operations', labelNames: ['code'],
      registers: [registry],
    }),
  };
}
