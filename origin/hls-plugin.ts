import type { FastifyInstance, FastifyReply } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { assertStreamName, isStreamName } from '../lib/stream-name.js';
import type { OriginConfig } from '../configs/index.js';
import type { OriginMetrics } from './metrics.js';
import type { StreamRegistry } from './streams/registry.js';
import type { Rendition } from './hls/rendition.js';
import { writeMasterPlaylist } from './hls/playlist.js';
import { SendDeadlines } from './hls/send-deadlines.js';
import { VIEWER_ROLES, streamParam, denial, type AccessControl } from '../lib/security/access.js';

export interface HlsPluginOptions {
  config: OriginConfig;
  registry: StreamRegistry;
  metrics: OriginMetrics;
  access: AccessControl;
  /** After the token check: bring a stream held by another origin of the cluster here. */
  locate?: (stream: string) => Promise<void>;
  /** True once close() began: parked requests are released with a retryable 503, not a 404. */
  isClosing?: () => boolean;
}

const PLAYLIST_TYPE = 'application/vnd.apple.mpegurl';
const DIGITS = /^\d{1,12}$/;

interface RenditionParams {
  stream: string;
  rendition: string;
}

/**
 * Low-Latency HLS (RFC 8216bis): master and media playlists with blocking reload, init
 * segments, segments and parts (blocking on the hinted part).
 */
export async function hlsPlugin(app: FastifyInstance, options: HlsPluginOptions): Promise<void> {
  const { config, registry, metrics, access } = options;
  const timeoutMs = config.hls.blockingTimeoutMs;
  // A player told "gone" may skip media; told "shutting down, retry" it asks again (elsewhere).
  const unlessClosing = (reply: FastifyReply): void => {
    if (!options.isClosing?.()) return;
    reply.header('retry-after', '1');
    throw new ScopecastError('SC_ERR_SHUTTING_DOWN');
  };

  // Playlists, init segments, segments and parts alike: a token for this stream on every request.
  app.addHook('preHandler', access.guard(VIEWER_ROLES, streamParam));
  const locate = options.locate;
  if (locate) {
    app.addHook('preHandler', async (request) => {
      const stream = streamParam(request);
      if (stream && isStreamName(stream)) await locate(stream);
    });
  }
  // A blocking request parked before a revocation must not deliver media after it.
  app.addHook('onSend', async (request, reply, payload) => {
    if (request.principal && reply.statusCode < 300 && access.revocations.has(request.principal.jti)) {
      reply.code(401).header('content-type', 'application/json');
      return JSON.stringify(denial('revoked').toJSON());
    }
    return payload;
  });

  // A viewer that stopped reading is disconnected (see SendDeadlines); a blocking wait is not stalling.
  const stalledMs = config.hls.stalledReaderTimeoutMs;
  const deadlines = new SendDeadlines(stalledMs, (pending) => {
    metrics.hlsStalledReaders.inc();
    app.log.warn({ ms: stalledMs, pending }, 'LL-HLS viewer stopped reading: connection closed');
  });
  app.addHook('onSend', async (request, reply) => {
    reply.header('access-control-allow-origin', '*');
    deadlines.track(request.raw.socket, reply.raw);
  });

  const findRendition = (params: RenditionParams): Rendition => {
    const stream = assertStreamName(params.stream);
    const rendition = registry.get(stream)?.rendition(params.rendition);
    if (!rendition?.hasInit) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', `${stream}/${params.rendition.slice(0, 16)}`);
    return rendition;
  };

  app.get<{ Params: { stream: string } }>('/hls/:stream/index.m3u8', async (request, reply) => {
    const stream = assertStreamName(request.params.stream);
    const live = registry.get(stream);
    const variants = (live?.renditions ?? [])
      .filter((r) => r.initInfo)
      .map((r) => {
        const info = r.initInfo!;
        const video = info.videoTrack;
        return {
          uri: `${r.name}/stream.m3u8`,
          bandwidth: r.bandwidth || 1_000_000,
          codecs: info.tracks.map((t) => t.codec),
          ...(video?.width && video.height ? { width: video.width, height: video.height } : {}),
          frameRate: 30,
        };
      });
    if (variants.length === 0) {
      metrics.hlsRequests.inc({ kind: 'master', status: 404 });
      throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', stream);
    }
    metrics.hlsRequests.inc({ kind: 'master', status: 200 });
    const who = request.principal!;
    access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'watch', object: `live/${stream}/llhls`, outcome: 'allowed' });
    return reply.header('content-type', PLAYLIST_TYPE).header('cache-control', 'no-cache').send(writeMasterPlaylist(variants));
  });

  app.get<{ Params: RenditionParams; Querystring: Record<string, string | undefined> }>(
    '/hls/:stream/:rendition/stream.m3u8',
    async (request, reply) => {
      const rendition = findRendition(request.params);
      const { msn, part } = blockingParams(request.query);
      if (msn !== undefined) {
        const store = rendition.store;
        // RFC 8216bis 6.2.5.2: more than two segments ahead of the live edge is a client error.
        if (msn > store.liveEdgeMsn + 2) {
          metrics.hlsRequests.inc({ kind: 'playlist', status: 400 });
          throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', `_HLS_msn=${msn} is beyond the live edge (${store.liveEdgeMsn})`);
        }
        const started = performance.now();
        const ok = await waitWhileConnected(reply, rendition, () => store.satisfies(msn, part), timeoutMs);
        metrics.hlsBlockingWait.observe({ kind: 'playlist' }, (performance.now() - started) / 1000);
        if (!ok) {
          metrics.hlsRequests.inc({ kind: 'playlist', status: 503 });
          unlessClosing(reply);
          throw new ScopecastError('SC_ERR_HLS_TIMEOUT', `_HLS_msn=${msn}${part === undefined ? '' : ` _HLS_part=${part}`}`);
        }
      }
      metrics.hlsRequests.inc({ kind: 'playlist', status: 200 });
      return reply.header('content-type', PLAYLIST_TYPE).header('cache-control', 'no-cache').send(rendition.playlist());
    },
  );

  app.get<{ Params: RenditionParams & { generation: string } }>('/hls/:stream/:rendition/init_:generation.mp4', async (request, reply) => {
    const rendition = findRendition(request.params);
    const data = DIGITS.test(request.params.generation) ? rendition.init(Number(request.params.generation)) : undefined;
    if (!data) throw new ScopecastError('SC_ERR_HLS_GONE', 'init segment');
    return sendMedia(reply, data, 'init');
  });

  app.get<{ Params: RenditionParams & { msn: string } }>('/hls/:stream/:rendition/seg_:msn.m4s', async (request, reply) => {
    const rendition = findRendition(request.params);
    if (!DIGITS.test(request.params.msn)) throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', 'segment number');
    const segment = rendition.store.segment(Number(request.params.msn));
    if (!segment?.complete || !segment.data) {
      metrics.hlsRequests.inc({ kind: 'segment', status: 404 });
      throw new ScopecastError('SC_ERR_HLS_GONE', `segment ${request.params.msn}`);
    }
    metrics.hlsRequests.inc({ kind: 'segment', status: 200 });
    return sendMedia(reply, segment.data, 'segment');
  });

  app.get<{ Params: RenditionParams & { seq: string } }>('/hls/:stream/:rendition/part_:seq.m4s', async (request, reply) => {
    const rendition = findRendition(request.params);
    if (!DIGITS.test(request.params.seq)) throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', 'part number');
    const seq = Number(request.params.seq);
    const store = rendition.store;
    // The preload hint names the next part: block on it (and one beyond, for eager clients).
    if (!store.part(seq) && seq < store.nextPartSeq + 2 && seq >= store.nextPartSeq && !store.ended) {
      const started = performance.now();
      await waitWhileConnected(reply, rendition, () => store.part(seq) !== undefined || store.ended, timeoutMs);
      metrics.hlsBlockingWait.observe({ kind: 'part' }, (performance.now() - started) / 1000);
    }
    const part = store.part(seq);
    if (!part) {
      unlessClosing(reply);
      const status = seq >= store.nextPartSeq + 2 ? 400 : 404;
      metrics.hlsRequests.inc({ kind: 'part', status });
      if (status === 400) throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', `part ${seq} is beyond the preload hint`);
      throw new ScopecastError('SC_ERR_HLS_GONE', `part ${seq}`);
    }
    metrics.hlsRequests.inc({ kind: 'part', status: 200 });
    return sendMedia(reply, part.data, 'part');
  });
}

function sendMedia(reply: FastifyReply, data: Buffer, kind: 'init' | 'segment' | 'part'): FastifyReply {
  // Media URIs never change content once published: let caches keep them.
  return reply
    .header('content-type', kind === 'init' ? 'video/mp4' : 'video/iso.segment')
    .header('cache-control', 'public, max-age=60')
    .send(data);
}

/** _HLS_msn / _HLS_part: non-negative integers; _HLS_part needs _HLS_msn (RFC 8216bis 6.2.5.2). */
function blockingParams(query: Record<string, string | undefined>): { msn?: number; part?: number } {
  const rawMsn = query['_HLS_msn'];
  const rawPart = query['_HLS_part'];
  if (rawPart !== undefined && rawMsn === undefined) {
    throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', '_HLS_part without _HLS_msn');
  }
  if (rawMsn === undefined) return {};
  if (!DIGITS.test(rawMsn)) throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', '_HLS_msn must be a non-negative integer');
  if (rawPart !== undefined && !DIGITS.test(rawPart)) throw new ScopecastError('SC_ERR_HLS_BAD_REQUEST', '_HLS_part must be a non-negative integer');
  return rawPart === undefined ? { msn: Number(rawMsn) } : { msn: Number(rawMsn), part: Number(rawPart) };
}

/**
 * Block until ready(), the timeout, or the client going away (the response closes unsent). The
 * close listener goes with the wait: left on, every answered request would fire an abort (and
 * build its DOMException) when its socket closes — a measurable cost at 500 viewers.
 */
async function waitWhileConnected(reply: FastifyReply, rendition: Rendition, ready: () => boolean, timeoutMs: number): Promise<boolean> {
  if (ready()) return true;
  const controller = new AbortController();
  const onClose = (): void => controller.abort();
  reply.raw.once('close', onClose);
  try {
    return await rendition.waitUntil(ready, timeoutMs, controller.signal);
  } finally {
    reply.raw.off('close', onClose);
  }
}
