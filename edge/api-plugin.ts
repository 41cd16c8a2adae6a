import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import type { EdgeMetrics } from './metrics.js';
import type { StreamPipeline } from './pipeline/stream-pipeline.js';
import { ADMIN_ONLY, EVERY_STREAM, type AccessControl } from '../lib/security/access.js';

export interface EdgeApiOptions {
  pipelines: ReadonlyMap<string, StreamPipeline>;
  metrics: EdgeMetrics;
  edgeId: string;
  rtmpUrl: string;
  /** WHIP ingest is served (webrtc.enabled). */
  whip: boolean;
  access: AccessControl;
}

/** What the hospital's IT staff look at: streams, encoder state, uplink queue, health, metrics. */
export async function edgeApiPlugin(app: FastifyInstance, options: EdgeApiOptions): Promise<void> {
  const { pipelines, metrics, access } = options;
  const admin = { preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) };

  app.get('/api/streams', admin, async () => ({
    edgeId: options.edgeId,
    publishUrl: `${options.rtmpUrl}/live/<stream>`,
    ...(options.whip ? { whipPath: '/whip/<stream>' } : {}),
    streams: [...pipelines.values()].map(streamInfo),
  }));

  app.get<{ Params: { stream: string } }>('/api/streams/:stream', admin, async (request) => {
    const name = assertStreamName(request.params.stream);
    const pipeline = pipelines.get(name);
    if (!pipeline) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', name);
    return streamInfo(pipeline);
  });

  app.get('/healthz', async () => ({ status: 'ok', tier: 'edge', edgeId: options.edgeId, streams: pipelines.size }));

  app.get('/metrics', { preHandler: access.scrapeGuard() }, async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}

/** A pipeline as IT staff see it: its profile name and how many PHI mask regions it applies (never where or why). */
function streamInfo(pipeline: StreamPipeline): Record<string, unknown> {
  return { ...pipeline.info, maskRegions: pipeline.profile.masks?.length ?? 0 };
}
