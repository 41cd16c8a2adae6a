import Fastify, { type FastifyInstance } from 'fastify';
import { loadOriginConfig, type OriginConfig } from '../configs/index.js';
import { readTlsFiles } from '../configs/index.js';
import { fastifyTlsOptions } from '../lib/tls.js';
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
import { authPlugin } from './auth-plugin.js';
import { OriginCluster } from './cluster/origin-cluster.js';
import { relaySourcePlugin } from './cluster/relay-source.js';
import { tierLoggerOptions } from '../lib/security/log-redaction.js';
import { ORIGIN_HTTP_LIMITS, applyHttpLimits } from '../lib/security/http-limits.js';
import { buildTierSecurity, type TierSecurity } from '../lib/security/tier-security.js';

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
  /** Tokens, revocations (shared through Redis when redisUrl is set) and the audit trail. */
  readonly security: TierSecurity;
  /** Origins sharing redisUrl: the shared stream directory, viewer counts, pulls from other origins. */
  readonly cluster: OriginCluster;
  /** Stop accepting, release blocked requests, close sockets. Idempotent. */
  close(): Promise<void>;
}

/** Build an origin from a config (validated here; throws SC_ERR_CONFIG_INVALID listing every problem). */
export async function build(input: unknown): Promise<OriginApp> {
  const config = loadOriginConfig(input);
  const registry = new StreamRegistry({ endedRetentionMs: config.hls.endedRetentionSeconds * 1000 });
  const metrics = new OriginMetrics();
  let closing = false;

  // Read once: the server's certificate and the CA the cluster's outbound pulls trust.
  const tlsFiles = readTlsFiles('origin', config.tls);
  const app = Fastify({
    logger: tierLoggerOptions(config.logLevel),
    forceCloseConnections: true,
    // Media bodies are buffers; JSON bodies stay small.
    bodyLimit: 64 * 1024,
    // HTTPS (and WSS on /ws) when tls.certFile is set; an unreadable file fails the build here.
    ...fastifyTlsOptions(config.http, tlsFiles.server),
  });
  installErrorHandler(app);
  applyHttpLimits(app.server, ORIGIN_HTTP_LIMITS);
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
  const security = buildTierSecurity({
    auth: config.auth,
    auditFile: config.audit.file || 'data/origin/audit.jsonl',
    redisUrl: config.redisUrl,
    onRedisError: (err) => {
      if (Date.now() - redisWarnedAt < 10_000) return;
      redisWarnedAt = Date.now();
      app.log.warn({ err: err.message }, 'redis (revocations) unavailable; retrying');
    },
    onDecision: (outcome, reason) => metrics.authDecisions.inc({ outcome, reason }),
  });
  const { access } = security;
  // After the recordings finished (their onClose hooks ran first): the last audit lines are written.
  app.addHook('onClose', async () => security.close());
  const auditStream = (stream: { name: string; edgeId: string }, action: 'publish' | 'unpublish' | 'record'): void =>
    access.audit({ user: stream.edgeId, role: 'edge', ip: '-', action, object: `live/${stream.name}`, outcome: 'ok', ...(action === 'record' ? { detail: 'recording started' } : {}) });
  registry.on('started', (stream) => {
    latency.setLive(stream.name, true);
    // A stream pulled from another origin is published (and recorded) there.
    if (stream.relayedFrom) return;
    auditStream(stream, 'publish');
    if (config.recordings.enabled) auditStream(stream, 'record');
  });
  registry.on('ended', (stream) => {
    latency.setLive(stream.name, false);
    if (!stream.relayedFrom) auditStream(stream, 'unpublish');
  });
  registry.on('removed', (stream) => {
    latency.forget(stream.name);
    metrics.forgetStream(stream.name);
  });
  const webrtcSessions = new Map<string, number>();
  const cluster = new OriginCluster({
    config,
    registry,
    trustedCa: tlsFiles.client,
    latency,
    webrtcSessions: (stream) => webrtcSessions.get(stream) ?? 0,
    log: app.log,
    onRedisError: (err) => {
      if (Date.now() - redisWarnedAt < 10_000) return;
      redisWarnedAt = Date.now();
      app.log.warn({ err: err.message }, 'redis (cluster directory) unavailable; retrying');
    },
  });
  // First: pulls stop and this origin's streams leave the directory while Redis is still there.
  app.addHook('preClose', async () => cluster.close());
  // Blocked LL-HLS requests are released before the server waits for in-flight requests.
  app.addHook('preClose', async () => {
    closing = true;
    registry.close();
  });

  await app.register(authPlugin, { access });
  await app.register(wsPlugin, { latency, edgeClocks, annotations, access, ingestKeys: config.ingest.keys });
  await app.register(ingestPlugin, { config, registry, metrics, latency, edgeClocks });
  const locate = cluster.enabled ? (stream: string) => cluster.locate(stream) : undefined;
  await app.register(hlsPlugin, { config, registry, metrics, access, isClosing: () => closing, ...(locate ? { locate } : {}) });
  await app.register(whepPlugin, {
    config,
    registry,
    metrics,
    access,
    ...(locate ? { locate } : {}),
    onViewers: (stream, count) => (count > 0 ? webrtcSessions.set(stream, count) : webrtcSessions.delete(stream)),
  });
  if (cluster.enabled) {
    await app.register(relaySourcePlugin, { registry, keys: config.ingest.keys, pingIntervalMs: cluster.relayPingMs, maxBufferedBytes: 64 * 1024 * 1024 });
  }
  await app.register(apiPlugin, {
    registry,
    metrics,
    access,
    isClosing: () => closing,
    cluster,
    redis: () => (!config.redisUrl ? 'none' : access.revocations.connected && annotations.connected && cluster.connected ? 'up' : 'down'),
  });
  await app.register(playerPlugin, { hlsPrefix: '/hls', fadeMs: config.annotations.fadeMs });
  await app.register(expertPlugin, { hlsPrefix: '/hls', whepPrefix: '/whep', fadeMs: config.annotations.fadeMs });
  await app.register(statusPlugin, { snapshot: () => latency.snapshot(), access });
  // Registered even when disabled: the library and API still serve what was recorded before.
  const recordings = await registerRecordings(app, { config, registry, hub: annotations, metrics, access, reconnectGraceMs: config.recordings.reconnectGraceSeconds * 1000 });

  let closed: Promise<void> | null = null;
  return {
    app,
    config,
    registry,
    metrics,
    latency,
    annotations,
    recordings,
    security,
    cluster,
    close: () => (closed ??= app.close().then(() => registry.close())),
  };
}
