import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import type { OriginMetrics } from './metrics.js';
import type { StreamRegistry } from './streams/registry.js';

export interface ApiPluginOptions {
  registry: StreamRegistry;
  metrics: OriginMetrics;
  /** True once close() began: /readyz turns 503 so a load balancer drains this node. */
  isClosing: () => boolean;
}

/** Stream list, health and readiness, Prometheus metrics. */
export async function apiPlugin(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  const { registry, metrics, isClosing } = options;

  app.get('/api/streams', async () => ({ streams: registry.list().map((s) => s.info()) }));

  app.get<{ Params: { stream: string } }>('/api/streams/:stream', async (request) => {
    const name = assertStreamName(request.params.stream);
    const stream = registry.get(name);
    if (!stream) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', name);
    return stream.info();
  });

  app.get('/healthz', async () => ({ status: 'ok', tier: 'origin' }));

  app.get('/readyz', async (_request, reply) => {
    if (isClosing()) return reply.code(503).send({ status: 'closing', tier: 'origin' });
    return { status: 'ready', tier: 'origin', streams: registry.list().length };
  });

  app.get('/metrics', async (_request, reply) => {
    metrics.liveStreams.set(registry.list().filter((s) => s.state === 'live').length);
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
