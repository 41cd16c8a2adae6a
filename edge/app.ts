import Fastify, { type FastifyInstance } from 'fastify';
import { join, resolve } from 'node:path';
import { PROFILES, type ConsoleProfile } from '../codecs/profiles/index.js';
import { loadEdgeConfig, type EdgeConfig } from '../configs/index.js';
import { InvalidStateError } from '../lib/errors.js';
import { installErrorHandler } from '../lib/http-errors.js';
import { assertPortFree, waitForPort } from '../lib/net.js';
import { edgeApiPlugin } from './api-plugin.js';
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
  /** Start the RTMP listener and the HTTP API (WHIP included). */
  listen(): Promise<{ http: string; rtmp: string }>;
  /** The control WebSocket to the origin (clock sync, encoder stats); started by listen(). */
  readonly originLink: OriginLink;
  /** Stop accepting consoles, end every encoder, tell the origin, close sockets. Idempotent. */
  close(): Promise<void>;
}

/** Build an edge from a config (validated here; throws SC_ERR_CONFIG_INVALID listing every problem). */
export async function build(input: unknown): Promise<EdgeApp> {
  const config = loadEdgeConfig(input);
  const metrics = new EdgeMetrics();
  const pipelines = new Map<string, StreamPipeline>();
  const app = Fastify({ logger: { level: config.logLevel }, forceCloseConnections: true });
  installErrorHandler(app);
  const rtmpUrl = `rtmp://${config.rtmp.host}:${config.rtmp.port}`;
  await app.register(edgeApiPlugin, { pipelines, metrics, edgeId: config.edgeId, rtmpUrl, whip: config.webrtc.enabled });
  const recordingsRoot = resolve(config.recording.dir || join(config.workDir, 'recordings'));
  await app.register(edgeRecordingsPlugin, { root: recordingsRoot });
  await app.register(monitorPlugin, { originUrl: config.origin.url });

  const profileFor = (stream: string): ConsoleProfile => PROFILES[config.consoles.streams[stream] ?? config.consoles.defaultProfile];

  let ingest: RtmpIngest | null = null;
  let closing: Promise<void> | null = null;

  // One encoder per stream name, whichever protocol claims it first; the other is refused.
  const busy = (stream: string): string | null =>
    pipelines.has(stream) || whip?.holds(stream) ? 'stream is already being published' : null;

  const onPublish = ({ stream, input, ip }: { stream: string; input: MediaInput; ip: string }): void => {
    const profile = profileFor(stream);
    const pipeline = new StreamPipeline({
      stream,
      profile,
      source: input,
      uplink: { ...config.origin, edgeId: config.edgeId },
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
    app.log.info({ stream, profile: profile.name, ip, ingest: input.kind }, 'console publishing');
    pipeline.start();
  };

  const whip = config.webrtc.enabled
    ? new WhipIngest({ webrtc: config.webrtc, log: app.log, accept: (stream) => (pipelines.has(stream) ? 'stream is already being published' : null) })
    : null;
  if (whip) {
    whip.on('publish', onPublish);
    // Only the pipeline fed by this session: never one a later publisher owns.
    whip.on('unpublish', ({ stream, input, reason }) => {
      const pipeline = pipelines.get(stream);
      app.log.info({ stream, reason }, 'WHIP publisher gone');
      if (pipeline?.input === input) void pipeline.finish();
    });
    whip.on('rejected', () => metrics.publishes.inc({ outcome: 'refused' }));
    await app.register(whipPlugin, { ingest: whip, maxSdpBytes: config.webrtc.maxSdpBytes });
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
  });

  return {
    app,
    config,
    metrics,
    pipelines,
    whip,
    originLink,
    async listen() {
      if (closing) throw new InvalidStateError('edge');
      await assertPortFree(config.rtmp.host, config.rtmp.port, 'RTMP ingest');
      ingest = new RtmpIngest({
        host: config.rtmp.host,
        port: config.rtmp.port,
        publishGraceMs: config.rtmp.publishGraceMs,
        workDir: resolve(config.workDir),
        log: app.log,
        // One encoder per stream name: a second console on the same name is refused.
        accept: busy,
      });
      ingest.on('publish', ({ stream, source, ip }) => onPublish({ stream, input: new FlvMediaInput(source), ip }));
      ingest.on('unpublish', onUnpublish);
      ingest.on('rejected', () => metrics.publishes.inc({ outcome: 'refused' }));
      await ingest.start();
      await waitForPort(config.rtmp.host === '0.0.0.0' ? '127.0.0.1' : config.rtmp.host, config.rtmp.port, 5000);
      const http = await app.listen({ host: config.http.host, port: config.http.port });
      originLink.start();
      return { http, rtmp: rtmpUrl };
    },
    close() {
      closing ??= (async () => {
        // Stop accepting consoles first, then end encoders (telling the origin), then HTTP.
        await Promise.all([ingest?.close(), whip?.close()]);
        await Promise.all([...pipelines.values()].map((p) => p.finish(1000)));
        originLink.close();
        await app.close();
      })();
      return closing;
    },
  };
}
