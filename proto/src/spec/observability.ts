// Observability fields of the Service manifest: `spec.metrics` declares that the service's
// containers serve Prometheus metrics. The controller's HTTP service discovery lists every
// running replica of such a service as a scrape target (controller/src/observe/sd.ts).
import { StringSchema, obj, port, optional, required, withDefault, type Ctx } from './dsl.js';

/** A path Prometheus can request: absolute, no query, fragment, spaces or control characters. */
const METRICS_PATH_RE = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/;

export const metricsSchema = obj({
  port: required(
    port(),
    'Container port that serves the metrics. It must be published in spec.ports (tcp): Prometheus reaches each replica at its node address and host port.',
  ),
  path: withDefault(
    new StringSchema({
      min: 1,
      max: 255,
      pattern: METRICS_PATH_RE,
      patternHint: 'expected an absolute URL path such as /metrics (no query string)',
      typeName: 'URL path',
    }),
    '/metrics',
    'HTTP path of the metrics.',
  ),
});

/** Spread into serviceSpecSchema's fields. */
export const observabilityFields = {
  metrics: optional(
    metricsSchema,
    "Prometheus metrics served by each replica; listed by the controller's service discovery (docs/observability.md).",
  ),
};

/** Cross-field rule (added to serviceSpecSchema with refine): the metrics port must be published over tcp. */
export function checkMetricsPort(
  spec: { metrics?: { port: number; path: string }; ports?: Array<{ containerPort: number; protocol: string }> },
  path: string,
  ctx: Ctx,
): void {
  if (!spec.metrics) return;
  const at = path ? `${path}.metrics.port` : 'metrics.port';
  const port = spec.metrics.port;
  if (!(spec.ports ?? []).some((p) => p.containerPort === port && p.protocol === 'tcp')) {
    ctx.add(at, `container port ${port} is not published: add {containerPort: ${port}} to spec.ports so Prometheus can reach each replica`);
  }
}
