import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import type { OriginMetrics } from './metrics.js';
import type { StreamRegistry } from './streams/registry.js';
import { VIEWER_ROLES, type AccessControl } from '../lib/security/access.js';

export interface ApiPluginOptions {
  registry: StreamRegistry;
  metrics: OriginMetrics;
  access: AccessControl;
  /** Shared-store state: 'none' (embedded), 'up', or 'down' (media keeps flowing; health says degraded). */
  redis: () => 'none' | 'up' | 'down';
  /** True once close() began: /readyz turns 503 so a load balancer drains this node. */
  isClosing: () => boolean;
}

/** Stream list, health and readiness, Prometheus metrics. */
export async function apiPlugin(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  const { registry, metrics, isClosing, access } = options;

  // Viewers see the streams their token names ('*' = all); /healthz and /readyz carry no data.
  app.get('/api/streams', { preHandler: access.guard(VIEWER_ROLES) }, async (request) => {
    const scope = request.principal!.stream;
    return { streams: registry.list().filter((s) => scope === '*' || s.name === scope).map((s) => s.info()) };
  });

  app.get<{ Params: { stream: string } }>('/api/streams/:stream', { preHandler: access.guard(VIEWER_ROLES, (r) => (r.params as { stream: string }).stream) }, async (request) => {
    const name = assertStreamName(request.params.stream);
    const stream = registry.get(name);
    if (!stream) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', name);
    return stream.info();
  });

  // Media does not depend on Redis: without it this origin still serves its own streams, so it is
  // degraded (shared annotations and revocations wait), not down. Load balancers keep it.
  app.get('/healthz', async () => {
    const redis = options.redis();
    return { status: redis === 'down' ? 'degraded' : 'ok', tier: 'origin', redis };
  });

  app.get('/readyz', async (_request, reply) => {
    if (isClosing()) return reply.code(503).send({ status: 'closing', tier: 'origin' });
    return { status: 'ready', tier: 'origin', streams: registry.list().length };
  });

  app.get('/metrics', { preHandler: access.scrapeGuard() }, async (_request, reply) => {
    metrics.liveStreams.set(registry.list().filter((s) => s.state === 'live').length);
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
