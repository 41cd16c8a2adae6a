import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import type { EdgeMetrics } from './metrics.js';
import type { StreamPipeline } from './pipeline/stream-pipeline.js';

export interface EdgeApiOptions {
  pipelines: ReadonlyMap<string, StreamPipeline>;
  metrics: EdgeMetrics;
  edgeId: string;
  rtmpUrl: string;
  /** WHIP ingest is served (webrtc.enabled). */
  whip: boolean;
}

/** What the hospital's IT staff look at: streams, encoder state, uplink queue, health, metrics. */
export async function edgeApiPlugin(app: FastifyInstance, options: EdgeApiOptions): Promise<void> {
  const { pipelines, metrics } = options;

  app.get('/api/streams', async () => ({
    edgeId: options.edgeId,
    publishUrl: `${options.rtmpUrl}/live/<stream>`,
    ...(options.whip ? { whipPath: '/whip/<stream>' } : {}),
    streams: [...pipelines.values()].map((p) => p.info),
  }));

  app.get<{ Params: { stream: string } }>('/api/streams/:stream', async (request) => {
    const name = assertStreamName(request.params.stream);
    const pipeline = pipelines.get(name);
    if (!pipeline) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', name);
    return pipeline.info;
  });

  app.get('/healthz', async () => ({ status: 'ok', tier: 'edge', edgeId: options.edgeId, streams: pipelines.size }));

  app.get('/metrics', async (_request, reply) =>
    reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics()),
  );
}
