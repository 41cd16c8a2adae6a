import Fastify, { type FastifyInstance } from 'fastify';
import { loadOriginConfig, type OriginConfig } from '../configs/index.js';
import { installErrorHandler } from '../lib/http-errors.js';
import { apiPlugin } from './api-plugin.js';
import { hlsPlugin } from './hls-plugin.js';
import { ingestPlugin } from './ingest-plugin.js';
import { OriginMetrics } from './metrics.js';
import { expertPlugin } from './expert-plugin.js';
import { playerPlugin } from './player-plugin.js';
import { LocalAnnotationHub, type AnnotationHub } from './annotations/hub.js';
import { RedisAnnotationHub } from './annotations/redis-hub.js';
import { EdgeClocks } from './latency/edge-clocks.js';
import { LatencyBook } from './latency/latency-book.js';
import { registerRecordings, type RecordingService } from './recording/index.js';
import { statusPlugin } from './status-plugin.js';
import { StreamRegistry } from './streams/registry.js';
import { whepPlugin } from './webrtc/whep-plugin.js';
import { wsPlugin } from './ws-plugin.js';

export interface OriginApp {
  /** The fastify instance, not yet listening: `await origin.app.listen(...)` or `app.inject()`. */
  readonly app: FastifyInstance;
  readonly config: Readonly<OriginConfig>;
  readonly registry: StreamRegistry;
  readonly metrics: OriginMetrics;
  /** Latency reports, hop delays, alerts: what /status and the latency metrics show. */
  readonly latency: LatencyBook;
  /** Annotation logs: in-process, or shared by every origin through Redis (redisUrl). */
  readonly annotations: AnnotationHub;
  /** Recordings of every live stream (records nothing when recordings.enabled is false). */
  readonly recordings: RecordingService;
  /** Stop accepting, release blocked requests, close sockets. Idempotent. */
  close(): Promise<void>;
}

/** Build an origin from a config (validated here; throws SC_ERR_CONFIG_INVALID listing every problem). */
export async function build(input: unknown): Promise<OriginApp> {
  const config = loadOriginConfig(input);
  const registry = new StreamRegistry({ endedRetentionMs: config.hls.endedRetentionSeconds * 1000 });
  const metrics = new OriginMetrics();
  let closing = false;

  const app = Fastify({
    logger: { level: config.logLevel, redact: ['req.headers["x-scopecast-ingest-key"]', 'req.headers["x-scopecast-admin-key"]', 'req.headers.authorization'] },
    forceCloseConnections: true,
    // Media bodies are buffers; JSON bodies stay small.
    bodyLimit: 64 * 1024,
  });
  installErrorHandler(app);
  const edgeClocks = new EdgeClocks();
  const latency = new LatencyBook({
    onSample: (stream, path, hop, ms) => metrics.latency.observe({ stream, path, hop }, Math.max(0, ms) / 1000),
    onAlert: (alert, active) =>
      active ? app.log.warn({ alert }, alert.message) : app.log.info({ stream: alert.stream, viewer: alert.viewerId }, 'expert latency back under the threshold'),
  });
  metrics.useLatencyBook(latency);
  // ioredis reports every failed reconnect: one log line per 10 s is enough for the IT team.
  let redisWarnedAt = 0;
  const annotations: AnnotationHub = config.redisUrl
    ? new RedisAnnotationHub({
        url: config.redisUrl,
        retain: config.annotations.retain,
        onError: (err) => {
          if (Date.now() - redisWarnedAt < 10_000) return;
          redisWarnedAt = Date.now();
          app.log.warn({ err: err.message }, 'redis (annotations) unavailable; retrying');
        },
      })
    : new LocalAnnotationHub({ retain: config.annotations.retain });
  app.addHook('onClose', async () => annotations.close());
  registry.on('started', (stream) => latency.setLive(stream.name, true));
  registry.on('ended', (stream) => latency.setLive(stream.name, false));
  registry.on('removed', (stream) => {
    latency.forget(stream.name);
    metrics.forgetStream(stream.name);
  });
  // Blocked LL-HLS requests are released before the server waits for in-flight requests.
  app.addHook('preClose', async () => {
    closing = true;
    registry.close();
  });

  await app.register(wsPlugin, { latency, edgeClocks, annotations });
  await app.register(ingestPlugin, { config, registry, metrics, latency, edgeClocks });
  await app.register(hlsPlugin, { config, registry, metrics });
  await app.register(whepPlugin, { config, registry, metrics });
  await app.register(apiPlugin, { registry, metrics, isClosing: () => closing });
  await app.register(playerPlugin, { hlsPrefix: '/hls', fadeMs: config.annotations.fadeMs });
  await app.register(expertPlugin, { hlsPrefix: '/hls', whepPrefix: '/whep', fadeMs: config.annotations.fadeMs });
  await app.register(statusPlugin, { snapshot: () => latency.snapshot() });
  // Registered even when disabled: the library and API still serve what was recorded before.
  const recordings = await registerRecordings(app, { config, registry, hub: annotations, metrics, reconnectGraceMs: config.recordings.reconnectGraceSeconds * 1000 });

  let closed: Promise<void> | null = null;
  return {
    app,
    config,
    registry,
    metrics,
    latency,
    annotations,
    recordings,
    close: () => (closed ??= app.close().then(() => registry.close())),
  };
}
