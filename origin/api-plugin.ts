import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import type { OriginMetrics } from './metrics.js';
import type { StreamRegistry } from './streams/registry.js';
import { ADMIN_ONLY, EVERY_STREAM, VIEWER_ROLES, streamParam, type AccessControl } from '../lib/security/access.js';
import type { OriginCluster } from './cluster/origin-cluster.js';
import type { LiveStreamInfo } from './streams/live-stream.js';

export interface ApiPluginOptions {
  registry: StreamRegistry;
  metrics: OriginMetrics;
  access: AccessControl;
  /** Shared-store state: 'none' (embedded), 'up', or 'down' (media keeps flowing; health says degraded). */
  redis: () => 'none' | 'up' | 'down';
  /** True once close() began: /readyz turns 503 so a load balancer drains this node. */
  isClosing: () => boolean;
  /** Origins sharing Redis: streams live elsewhere are listed too; /api/cluster. */
  cluster: OriginCluster;
}

/** Stream list, health and readiness, Prometheus metrics. */
export async function apiPlugin(app: FastifyInstance, options: ApiPluginOptions): Promise<void> {
  const { registry, metrics, isClosing, access } = options;

  // Viewers see the streams their token names ('*' = all); /healthz and /readyz carry no data.
  app.get('/api/streams', { preHandler: access.guard(VIEWER_ROLES) }, async (request) => {
    const scope = request.principal!.stream;
    const local = registry.list().map((s) => s.info());
    // Streams another origin holds: watchable here too (the first viewer starts the pull).
    const remote: LiveStreamInfo[] = (await options.cluster.remoteStreams())
      .filter((e) => !local.some((s) => s.name === e.name && s.state === 'live'))
      .map((e) => ({ name: e.name, state: 'live', edgeId: e.edgeId, profile: e.profile, relayedFrom: e.origin, startedAt: e.startedAt, endedAt: null, renditions: [] }));
    const all = [...local.filter((s) => !remote.some((r) => r.name === s.name)), ...remote];
    return { streams: all.filter((s) => scope === '*' || s.name === scope) };
  });

  // The cluster as this origin sees it: origins up, who holds which stream, viewers on each origin.
  app.get('/api/cluster', { preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) }, async () => options.cluster.status());

  app.get<{ Params: { stream: string } }>('/api/streams/:stream', { preHandler: access.guard(VIEWER_ROLES, streamParam) }, async (request) => {
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
