import Fastify, { type FastifyInstance } from 'fastify';
import { join, resolve } from 'node:path';
import { loadEdgeConfig, type EdgeConfig } from '../configs/index.js';
import { InvalidStateError, ScopecastError } from '../lib/errors.js';
import { installErrorHandler } from '../lib/http-errors.js';
import { assertPortFree, waitForPort } from '../lib/net.js';
import { edgeApiPlugin } from './api-plugin.js';
import { PUBLISHER_ROLES, WEBRTC_VIEWER_ROLES } from '../lib/security/access.js';
import { tierLoggerOptions } from '../lib/security/log-redaction.js';
import { EDGE_HTTP_LIMITS, applyHttpLimits } from '../lib/security/http-limits.js';
import { buildTierSecurity, type TierSecurity } from '../lib/security/tier-security.js';
import { decideConsole, isUnlistedRefusal } from './consoles.js';
import { edgeTls } from './edge-tls.js';
import { FlvMediaInput, type MediaInput } from './ingest/media-input.js';
import { RtmpIngest } from './ingest/rtmp-ingest.js';
import { WhipIngest } from './ingest/whip-ingest.js';
import { whipPlugin } from './ingest/whip-plugin.js';
import { EdgeMetrics } from './metrics.js';
import { monitorPlugin } from './monitor-plugin.js';
import { OriginLink } from './origin-link.js';
import { LocalRecorder } from './recording/local-recorder.js';
import { edgeRecordingsPlugin } from './recording/recordings-plugin.js';
import { StreamPipeline, type EncoderStats } from './pipeline/stream-pipeline.js';

export interface EdgeApp {
  /** The fastify instance (HTTP API), not yet listening. */
  readonly app: FastifyInstance;
  readonly config: Readonly<EdgeConfig>;
  readonly metrics: EdgeMetrics;
  /** Live pipelines by stream name. */
  readonly pipelines: ReadonlyMap<string, StreamPipeline>;
  /** WHIP publishers (POST /whip/<stream>); null when webrtc.enabled is false. */
  readonly whip: WhipIngest | null;
  /** Start the RTMP (and RTMPS) listener and the HTTP(S) API (WHIP included). rtmps: null when off. */
  listen(): Promise<{ http: string; rtmp: string; rtmps: string | null }>;
  /** The control WebSocket to the origin (clock sync, encoder stats); started by listen(). */
  readonly originLink: OriginLink;
  /** Tokens (revocations arrive from the origin over the control link) and the audit trail. */
  readonly security: TierSecurity;
  /** Stop accepting consoles, end every encoder, tell the origin, close sockets. Idempotent. */
  close(): Promise<void>;
}

/** Build an edge from a config (validated here; throws SC_ERR_CONFIG_INVALID listing every problem). */
export async function build(input: unknown): Promise<EdgeApp> {
  const config = loadEdgeConfig(input);
  const metrics = new EdgeMetrics();
  const pipelines = new Map<string, StreamPipeline>();
  // HTTPS/WSS, RTMPS and the https:// origin client (edge/edge-tls.ts); unreadable files fail here.
  const tlsSetup = edgeTls(config);
  const app = Fastify({ logger: tierLoggerOptions(config.logLevel), forceCloseConnections: true, ...tlsSetup.fastify });
  installErrorHandler(app);
  applyHttpLimits(app.server, EDGE_HTTP_LIMITS);
  const security = buildTierSecurity({
    auth: config.auth,
    auditFile: config.audit.file || join(config.workDir, 'audit.jsonl'),
    onDecision: (outcome, reason) => metrics.authDecisions.inc({ outcome, reason }),
  });
  const { access } = security;
  const rtmpUrl = `rtmp://${config.rtmp.host}:${config.rtmp.port}`;
  await app.register(edgeApiPlugin, { pipelines, metrics, edgeId: config.edgeId, rtmpUrl, whip: config.webrtc.enabled, access });
  const recordingsRoot = resolve(config.recording.dir || join(config.workDir, 'recordings'));
  await app.register(edgeRecordingsPlugin, { root: recordingsRoot, access });
  await app.register(monitorPlugin, { originUrl: config.origin.url });

  // PHI masking fails closed: a console not in consoles.streams is refused before any encoder
  // exists, unless allowUnlisted says otherwise (edge/consoles.ts).
  const consoleFor = (stream: string) => decideConsole(config.consoles, stream);
  const unlisted = (stream: string): string | null => {
    const decision = consoleFor(stream);
    return decision.accepted ? null : decision.reason;
  };
  const countRefusal = ({ reason }: { reason: string }): void => {
    metrics.publishes.inc({ outcome: isUnlistedRefusal(reason) ? 'unlisted' : 'refused' });
  };
  if (config.consoles.allowUnlisted) {
    app.log.warn(
      { defaultProfile: config.consoles.defaultProfile },
      'consoles.allowUnlisted is on: consoles not listed in consoles.streams are accepted with the default profile and WITHOUT PHI masks',
    );
  }

  let ingest: RtmpIngest | null = null;
  let closing: Promise<void> | null = null;

  // One encoder per stream name, whichever protocol claims it first; the other is refused.
  const busy = (stream: string): string | null =>
    pipelines.has(stream) || whip?.holds(stream) ? 'stream is already being published' : null;

  const onPublish = ({ stream, input, ip }: { stream: string; input: MediaInput; ip: string }): void => {
    const decision = consoleFor(stream);
    // accept() refused it already (the config is frozen); this only guards the wiring.
    if (!decision.accepted) throw new ScopecastError('SC_ERR_CONSOLE_UNLISTED', decision.reason);
    const { profile } = decision;
    const pipeline = new StreamPipeline({
      stream,
      profile,
      source: input,
      uplink: { ...config.origin, edgeId: config.edgeId, dispatcher: tlsSetup.origin.dispatcher },
      ffmpegPath: config.ffmpeg.path,
      restartMinMs: config.ffmpeg.restartMinMs,
      restartMaxMs: config.ffmpeg.restartMaxMs,
      log: app.log,
      metrics,
      recorder: config.recording.enabled ? new LocalRecorder({ root: recordingsRoot, stream, log: app.log }) : null,
    });
    pipelines.set(stream, pipeline);
    pipeline.once('closed', () => {
      if (pipelines.get(stream) === pipeline) pipelines.delete(stream);
      metrics.forgetStream(stream);
    });
    metrics.publishes.inc({ outcome: 'accepted' });
    app.log.info({ stream, profile: profile.name, masks: profile.masks?.length ?? 0, ip, ingest: input.kind }, 'console publishing');
    if (!decision.listed) app.log.warn({ stream, ip }, 'unlisted console accepted (consoles.allowUnlisted): default profile, no PHI masks');
    pipeline.start();
  };

  const whip = config.webrtc.enabled
    ? new WhipIngest({
        webrtc: config.webrtc,
        log: app.log,
        accept: (stream) => {
          const refused = unlisted(stream);
          if (refused) return new ScopecastError('SC_ERR_CONSOLE_UNLISTED', refused);
          return pipelines.has(stream) ? 'stream is already being published' : null;
        },
      })
    : null;
  if (whip) {
    whip.on('publish', onPublish);
    // Only the pipeline fed by this session: never one a later publisher owns.
    whip.on('unpublish', ({ stream, input, reason }) => {
      const pipeline = pipelines.get(stream);
      app.log.info({ stream, reason }, 'WHIP publisher gone');
      if (pipeline?.input === input) void pipeline.finish();
    });
    whip.on('rejected', countRefusal);
    await app.register(whipPlugin, { ingest: whip, maxSdpBytes: config.webrtc.maxSdpBytes, access });
  }

  const onUnpublish = (stream: string): void => {
    void pipelines.get(stream)?.finish();
  };

  const originLink = new OriginLink({
    originUrl: config.origin.url,
    edgeId: config.edgeId,
    log: app.log,
    encoders: () => [...pipelines].map(([stream, p]) => [stream, p.encoderStats] as [string, EncoderStats]),
    retryMinMs: config.origin.retryMinMs,
    retryMaxMs: config.origin.retryMaxMs,
    tls: tlsSetup.origin.ws,
    ingestKey: config.origin.ingestKey,
    // Publisher tokens are verified here, revoked at the origin: the link brings every revocation.
    onRevocations: (entries) => access.revocations.merge(entries),
  });

  // RTMP publish and play carry their token in the stream URL (rtmp://edge/live/<stream>?token=…).
  const authorizeRtmp = ({ kind, stream, token, ip, end }: { kind: 'publish' | 'play'; stream: string; token: string | null; ip: string; end: () => void }) => {
    const check = access.check(token, kind === 'publish' ? PUBLISHER_ROLES : WEBRTC_VIEWER_ROLES, stream);
    const user = check.ok ? check.claims.sub : '-';
    const role = check.ok ? check.claims.role : '-';
    const action = kind === 'publish' ? 'publish' : 'watch';
    if (!check.ok) {
      access.auditDenied({ ip, object: `live/${stream}/rtmp`, reason: check.reason, action });
      return { ok: false as const, reason: `token ${check.reason}` };
    }
    access.audit({ user, role, ip, action, object: `live/${stream}/rtmp`, outcome: 'allowed' });
    return { ok: true as const, release: access.watch(check.claims.jti, end) };
  };

  return {
    app,
    config,
    metrics,
    pipelines,
    whip,
    originLink,
    security,
    async listen() {
      if (closing) throw new InvalidStateError('edge');
      await assertPortFree(config.rtmp.host, config.rtmp.port, 'RTMP ingest');
      if (tlsSetup.rtmps) await assertPortFree(config.rtmp.host, tlsSetup.rtmps.port, 'RTMPS ingest');
      ingest = new RtmpIngest({
        host: config.rtmp.host,
        port: config.rtmp.port,
        publishGraceMs: config.rtmp.publishGraceMs,
        limits: { maxConnections: config.rtmp.maxConnections, handshakeTimeoutMs: config.rtmp.handshakeTimeoutMs, idleTimeoutMs: config.rtmp.idleTimeoutMs },
        tls: tlsSetup.rtmps,
        workDir: resolve(config.workDir),
        log: app.log,
        // One encoder per stream name: a second console on the same name is refused.
        accept: (stream) => unlisted(stream) ?? busy(stream),
        authorize: authorizeRtmp,
      });
      ingest.on('publish', ({ stream, source, ip }) => onPublish({ stream, input: new FlvMediaInput(source), ip }));
      ingest.on('unpublish', onUnpublish);
      ingest.on('dropped', ({ reason }) => metrics.rtmpDropped.inc({ reason }));
      ingest.on('connections', (count) => metrics.rtmpConnections.set(count));
      ingest.on('rejected', countRefusal);
      await ingest.start();
      await waitForPort(config.rtmp.host === '0.0.0.0' ? '127.0.0.1' : config.rtmp.host, config.rtmp.port, 5000);
      if (tlsSetup.rtmps) await waitForPort(config.rtmp.host === '0.0.0.0' ? '127.0.0.1' : config.rtmp.host, tlsSetup.rtmps.port, 5000);
      const http = await app.listen({ host: config.http.host, port: config.http.port });
      originLink.start();
      return { http, rtmp: rtmpUrl, rtmps: tlsSetup.rtmpsUrl };
    },
    close() {
      closing ??= (async () => {
        // Stop accepting consoles first, then end encoders (telling the origin), then HTTP.
        await Promise.all([ingest?.close(), whip?.close()]);
        await Promise.all([...pipelines.values()].map((p) => p.finish(1000)));
        originLink.close();
        await app.close();
        await tlsSetup.origin.close();
        await security.close();
      })();
      return closing;
    },
  };
}
