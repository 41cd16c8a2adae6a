import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Fmp4Splitter, type InitInfo } from '../codecs/fmp4/index.js';
import { applyInit, parseVideoInit, applyPart, applyRealtimeFrame, applyRealtimeInit } from './streams/stream-media.js';
import { CMAF_STREAM_TYPE, INGEST_HEADERS } from '../lib/ingest-protocol.js';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName } from '../lib/stream-name.js';
import { ingestKeyChecker } from '../lib/security/ingest-key.js';
import type { OriginConfig } from '../configs/index.js';
import type { FragmentInfo } from '../codecs/fmp4/index.js';
import type { EdgeClocks } from './latency/edge-clocks.js';
import type { LatencyBook } from './latency/latency-book.js';
import type { OriginMetrics } from './metrics.js';
import type { StreamRegistry } from './streams/registry.js';

export interface IngestPluginOptions {
  config: OriginConfig;
  registry: StreamRegistry;
  metrics: OriginMetrics;
  latency: LatencyBook;
  edgeClocks: EdgeClocks;
}

/** The edge stamped prft on its own clock: move it onto ours (its measured offset). */
function toOriginClock(info: FragmentInfo, offsetMs: number): FragmentInfo {
  if (info.prft && offsetMs !== 0) info.prft = { ...info.prft, wallClockMs: info.prft.wallClockMs + offsetMs };
  return info;
}

const RENDITION = /^[a-z0-9_]{1,16}$/;

interface StreamParams {
  stream: string;
}
interface RenditionParams extends StreamParams {
  rendition: string;
}

/**
 * CMAF ingest from edges: PUT .../init (starts or restarts a rendition), POST .../fragment (one
 * LL-HLS part), DELETE /ingest/:stream (publisher left: the stream ends).
 */
export async function ingestPlugin(app: FastifyInstance, options: IngestPluginOptions): Promise<void> {
  const { config, registry, metrics, latency, edgeClocks } = options;
  const keyAccepted = ingestKeyChecker(config.ingest.keys);

  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.addHook('onRequest', async (request) => {
    if (!keyAccepted(request.headers)) {
      metrics.ingestRejected.inc({ code: 'SC_ERR_INGEST_AUTH' });
      throw new ScopecastError('SC_ERR_INGEST_AUTH');
    }
  });

  const renditionOf = (request: FastifyRequest<{ Params: RenditionParams }>): { stream: string; rendition: string } => {
    const stream = assertStreamName(request.params.stream);
    const rendition = request.params.rendition;
    if (!RENDITION.test(rendition)) throw new ScopecastError('SC_ERR_STREAM_NAME', `rendition ${JSON.stringify(rendition.slice(0, 40))}`);
    return { stream, rendition };
  };

  app.put<{ Params: RenditionParams; Body: Buffer }>(
    '/ingest/:stream/:rendition/init',
    { bodyLimit: config.ingest.maxInitBytes },
    async (request, reply) => {
      const { stream, rendition } = renditionOf(request);
      const body = requireBuffer(request.body);
      const info = parseVideoInit(body);
      const partTarget = Number(request.headers[INGEST_HEADERS.partTarget] ?? '0.2');
      if (!(partTarget >= 0.05 && partTarget <= 2)) throw new ScopecastError('SC_ERR_INGEST_MEDIA', 'part target must be 0.05..2 s');
      const bandwidth = Number(request.headers[INGEST_HEADERS.bandwidth] ?? '0');
      const edge = headerToken(request.headers[INGEST_HEADERS.edge], 'unknown');
      const profile = headerToken(request.headers[INGEST_HEADERS.profile], 'unknown');
      const live = registry.begin(stream, edge, profile);
      const generation = applyInit(live, config.hls, rendition, body, info, { partTarget, bandwidth });
      request.log.info({ stream, rendition, generation, codecs: info.tracks.map((t) => t.codec) }, 'init received');
      return reply.code(201).send({ stream, rendition, generation });
    },
  );

  app.post<{ Params: RenditionParams; Body: Buffer }>(
    '/ingest/:stream/:rendition/fragment',
    { bodyLimit: config.ingest.maxFragmentBytes },
    async (request, reply) => {
      const arrivedAt = Date.now();
      const { stream, rendition } = renditionOf(request);
      const body = requireBuffer(request.body);
      const live = registry.get(stream);
      const edge = headerToken(request.headers[INGEST_HEADERS.edge], 'unknown');
      let applied: ReturnType<typeof applyPart>;
      try {
        if (!live) throw new ScopecastError('SC_ERR_INGEST_ORDER', `${stream}/${rendition}`);
        applied = applyPart(live, rendition, body, (info) => toOriginClock(info, edgeClocks.offsetFor(edge)));
      } catch (err) {
        if (err instanceof ScopecastError && err.code === 'SC_ERR_INGEST_ORDER') metrics.ingestRejected.inc({ code: 'SC_ERR_INGEST_ORDER' });
        throw err;
      }
      const { part, info } = applied;
      metrics.ingestFragments.inc({ stream, rendition });
      metrics.ingestBytes.inc({ stream, rendition }, body.length);
      latency.ingest(stream, 'llhls', body.length, info.video?.samples.length ?? 0, info.prft?.wallClockMs, arrivedAt);
      return reply.code(part ? 201 : 200).send({ duplicate: part === null, msn: part?.msn, part: part?.index });
    },
  );

  // Realtime feed: one long POST carrying init + one fragment per frame, parsed as it streams in.
  app.addContentTypeParser(CMAF_STREAM_TYPE, (_request, payload, done) => done(null, payload));
  app.post<{ Params: StreamParams; Body: AsyncIterable<Buffer> }>('/ingest/:stream/rt/stream', async (request, reply) => {
    const stream = assertStreamName(request.params.stream);
    const splitter = new Fmp4Splitter({ maxBoxBytes: config.ingest.maxFragmentBytes });
    let init: InitInfo | null = null;
    let live = registry.get(stream);
    let frames = 0;
    const edge = headerToken(request.headers[INGEST_HEADERS.edge], 'unknown');
    try {
      for await (const chunk of request.body) {
        for (const unit of splitter.push(chunk)) {
          if (unit.kind === 'init') {
            // The LL-HLS init may not have arrived yet: the realtime feed can start the stream.
            live = live?.state === 'live' ? live : registry.begin(stream, edge, 'unknown');
            init = applyRealtimeInit(live, unit.data);
          } else if (init && live?.state === 'live') {
            // The offset is looked up per frame: the edge refines it while the feed streams.
            const info = applyRealtimeFrame(live, init, unit.data, (i) => toOriginClock(i, edgeClocks.offsetFor(edge)));
            latency.ingest(stream, 'webrtc', unit.data.length, 1, info.prft?.wallClockMs, Date.now());
            frames += 1;
          }
        }
      }
    } catch (err) {
      metrics.ingestRejected.inc({ code: err instanceof ScopecastError ? err.code : 'SC_ERR_INGEST_MEDIA' });
      request.log.warn({ stream, err: (err as Error).message, frames }, 'realtime ingest ended with an error');
      throw err instanceof ScopecastError ? err : new ScopecastError('SC_ERR_INGEST_MEDIA', (err as Error).message);
    }
    return reply.code(204).send();
  });

  app.delete<{ Params: StreamParams }>('/ingest/:stream', async (request, reply) => {
    const stream = assertStreamName(request.params.stream);
    const live = registry.end(stream);
    if (!live) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', stream);
    request.log.info({ stream }, 'stream ended by edge');
    return reply.code(204).send();
  });
}

function requireBuffer(body: unknown): Buffer {
  if (!Buffer.isBuffer(body) || body.length === 0) {
    throw new ScopecastError('SC_ERR_INGEST_MEDIA', 'send the media as Content-Type: application/octet-stream');
  }
  return body;
}

/** Edge id / profile names go into logs and the API: keep them to a safe alphabet. */
function headerToken(value: unknown, fallback: string): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : fallback;
}
