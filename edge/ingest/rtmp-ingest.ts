import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import NodeMediaServer, { type NmsSession } from 'node-media-server';
import Context from 'node-media-server/src/core/context.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import type { FastifyBaseLogger } from 'fastify';
import { InvalidStateError, ScopecastError } from '../../lib/errors.js';
import { isStreamName } from '../../lib/stream-name.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { redactSecrets } from '../../lib/security/log-redaction.js';
import type { FlvSource } from './flv-source.js';
import { NmsFlvSource } from './flv-source.js';
import { RtmpListenerGuard, type RtmpDropInfo, type RtmpListenerLimits } from './rtmp-limits.js';
import { enforceRtmpsFloor, nmsRtmpsConfig, type RtmpsOptions } from './rtmps.js';

export interface PublishInfo {
  stream: string;
  sessionId: string;
  /** Client address, for the log and the API. */
  ip: string;
  source: FlvSource;
}

export interface RtmpIngestEvents extends Record<string, unknown[]> {
  /** A console started publishing (a resume within the grace window is not a new publish). */
  publish: [info: PublishInfo];
  /** The publish ended for good (after the grace window). */
  unpublish: [stream: string];
  /** A publish attempt was refused (bad app or stream name, or accept() said no). */
  rejected: [info: { stream: string; ip: string; reason: string }];
  /** A connection was refused or closed by the listener limits (edge/ingest/rtmp-limits.ts). */
  dropped: [info: RtmpDropInfo];
  /** Open RTMP/RTMPS connections changed. */
  connections: [count: number];
}

export interface RtmpIngestOptions {
  host: string;
  port: number;
  publishGraceMs: number;
  workDir: string;
  log: FastifyBaseLogger;
  /** Connection count, handshake and idle deadlines (config rtmp section). */
  limits: RtmpListenerLimits;
  /** Decide whether a publish may start; return a reason to refuse it. */
  accept: (stream: string) => string | null;
  /**
   * Token check for a publish or a play (the token comes from the stream URL's `?token=`).
   * `end` closes the session later (its token revoked); `release` is called when it ends.
   */
  authorize: (request: RtmpAuthRequest) => { ok: true; release: () => void } | { ok: false; reason: string };
  /** RTMPS listener on the same host (edge tls certificate); absent = RTMP only. */
  tls?: RtmpsOptions | undefined;
}

export interface RtmpAuthRequest {
  kind: 'publish' | 'play';
  stream: string;
  token: string | null;
  ip: string;
  end: () => void;
}

// node-media-server keeps its state in a module-global Context, so one process can hold one
// embedded instance at a time. Say so loudly instead of corrupting a second one.
let activeInstance: RtmpIngest | null = null;

const NMS_LEVELS: Record<string, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  trace: 'trace', debug: 'debug', info: 'debug', warn: 'warn', error: 'error',
};

/**
 * RTMP/RTMPS ingest: embedded node-media-server. Emits publish/unpublish with an in-process
 * FLV source per stream (no loopback RTMP hop to the encoder).
 */
export class RtmpIngest extends TypedEmitter<RtmpIngestEvents> {
  readonly #options: RtmpIngestOptions;
  readonly #nms: NodeMediaServer;
  readonly #guard: RtmpListenerGuard;
  readonly #rejected = new Set<string>();
  readonly #live = new Map<string, NmsSession>();
  /** Per authorised session: what to call when it ends (stops watching its token). */
  readonly #releases = new Map<string, () => void>();
  readonly #listeners: Array<[string, (session: NmsSession) => void]> = [];
  readonly #originalLog: (message: string, level?: string) => void;
  #started = false;
  #closed: Promise<void> | null = null;

  constructor(options: RtmpIngestOptions) {
    super();
    if (activeInstance) throw new InvalidStateError('another RTMP ingest in this process (node-media-server is process-global)');
    activeInstance = this;
    this.#options = options;
    const storePath = join(options.workDir, 'nms-store');
    mkdirSync(storePath, { recursive: true });
    // NMS forces its logger to debug and prints to stdout; route it into our structured log.
    this.#originalLog = nmsLogger.log;
    nmsLogger.level = 'trace';
    nmsLogger.log = (message: string, level = 'info') => {
      const mapped = NMS_LEVELS[level] ?? 'info';
      // NMS may quote a connect URL; its query can hold a token.
      options.log[mapped]({ component: 'nms' }, redactSecrets(message));
    };
    this.#nms = new NodeMediaServer({
      bind: options.host,
      rtmp: { port: options.port },
      ...nmsRtmpsConfig(options.tls),
      store: { path: storePath },
      webadmin: { enable: false },
    });
    if (options.tls) enforceRtmpsFloor(this.#nms, options.tls);
    // Before run(): no connection reaches NMS's parser unguarded.
    this.#guard = new RtmpListenerGuard({ limits: options.limits, log: options.log });
    this.#guard.attachNms(this.#nms.rtmpServer);
    this.#guard.on('dropped', (info) => this.emit('dropped', info));
    this.#guard.on('connections', (count) => this.emit('connections', count));
    this.#listen('prePublish', (session) => this.#onPrePublish(session));
    this.#listen('postPublish', (session) => this.#onPostPublish(session));
    this.#listen('donePublish', (session) => this.#onDonePublish(session));
    this.#listen('prePlay', (session) => this.#onPrePlay(session));
    this.#listen('donePlay', (session) => this.#release(session.id));
  }

  async start(): Promise<void> {
    if (this.#closed) throw new InvalidStateError('RTMP ingest');
    if (this.#started) return;
    this.#started = true;
    await this.#nms.run();
  }

  get liveStreams(): string[] {
    return [...this.#live.keys()];
  }

  /** Open RTMP/RTMPS connections (publishers, players, and ones still in their handshake). */
  get connections(): number {
    return this.#guard.connections;
  }

  /** Stop listening, drop every console connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const [event, listener] of this.#listeners) Context.eventEmitter.off(event, listener);
      const streams = [...this.#live.keys()];
      this.#live.clear();
      await this.#nms.stop();
      this.#guard.close();
      for (const stream of streams) this.emit('unpublish', stream);
      nmsLogger.log = this.#originalLog;
      if (activeInstance === this) activeInstance = null;
    })();
    return this.#closed;
  }

  #listen(event: 'prePublish' | 'postPublish' | 'donePublish' | 'prePlay' | 'donePlay', listener: (session: NmsSession) => void): void {
    const guarded = (session: NmsSession): void => {
      try {
        listener(session);
      } catch (err) {
        this.#options.log.error({ err, stream: session.streamName }, `RTMP ${event} handler failed`);
      }
    };
    this.#listeners.push([event, guarded]);
    this.#nms.on(event, guarded);
  }

  #onPrePublish(session: NmsSession): void {
    const stream = session.streamName;
    const reason =
      session.streamApp !== 'live'
        ? `application "${String(session.streamApp).slice(0, 32)}" (use rtmp://host/live/<stream>)`
        : !isStreamName(stream)
          ? 'stream name not allowed'
          : // Back within the grace window: the stream (and its encoder) is still ours, so it is
            // not "busy"; the token is checked all the same.
            (this.#authorize('publish', session) ?? (this.#live.has(stream) ? null : this.#options.accept(stream)));
    if (reason) {
      this.#release(session.id);
      this.#rejected.add(session.id);
      const error = new ScopecastError('SC_ERR_STREAM_NAME', reason);
      this.#options.log.warn({ stream: String(stream).slice(0, 64), ip: session.ip, code: error.code }, `publish refused: ${reason}`);
      this.emit('rejected', { stream: String(stream).slice(0, 64), ip: session.ip, reason });
      // NMS makes a refused session the publisher of a free stream path all the same, and on close
      // holds it (1 MiB+ of parser buffers) for NMS's own 30 s grace: one per refused name, a memory
      // lever for anyone who can connect. No stream of ours there: nothing to wait for.
      if (session.broadcast && !this.#live.has(String(stream))) session.broadcast.publishGraceMs = 0;
      session.close();
      return;
    }
    if (session.broadcast) session.broadcast.publishGraceMs = this.#options.publishGraceMs;
  }

  /** Returns a refusal reason, or null when the session's token allows it. */
  #authorize(kind: 'publish' | 'play', session: NmsSession): string | null {
    const query = (session as { streamQuery?: Record<string, unknown> }).streamQuery ?? {};
    const token = typeof query['token'] === 'string' ? query['token'] : null;
    const result = this.#options.authorize({ kind, stream: session.streamName, token, ip: session.ip, end: () => session.close() });
    if (!result.ok) return result.reason;
    this.#releases.set(session.id, result.release);
    return null;
  }

  #release(sessionId: string): void {
    const release = this.#releases.get(sessionId);
    this.#releases.delete(sessionId);
    release?.();
  }

  #onPrePlay(session: NmsSession): void {
    const stream = session.streamName;
    const reason = session.streamApp !== 'live' || !isStreamName(stream) ? 'stream name not allowed' : this.#authorize('play', session);
    if (!reason) return;
    this.#options.log.warn({ stream: String(stream).slice(0, 64), ip: session.ip }, `play refused: ${reason}`);
    session.close();
  }

  #onPostPublish(session: NmsSession): void {
    if (this.#rejected.has(session.id)) return;
    const stream = session.streamName;
    const existing = this.#live.get(stream);
    if (existing) {
      // Same console back within the grace window: NMS continues the timeline, our encoder keeps running.
      this.#live.set(stream, session);
      this.#options.log.info({ stream, ip: session.ip }, 'publisher resumed within grace window');
      return;
    }
    if (!session.broadcast) {
      this.#options.log.error({ stream }, 'publish without a broadcast; refusing');
      session.close();
      return;
    }
    this.#live.set(stream, session);
    this.#options.log.info({ stream, ip: session.ip }, 'publish started');
    this.emit('publish', { stream, sessionId: session.id, ip: session.ip, source: new NmsFlvSource(session.broadcast, session.streamPath) });
  }

  #onDonePublish(session: NmsSession): void {
    this.#release(session.id);
    // NMS emits donePublish only when a stream's broadcast loses its publisher for good, and that
    // session may be one we refused: NMS keeps a refused publish from the publisher's address within
    // the grace window as a "resume", dropping the real publisher's end. So the stream ends here
    // whoever the session is (keyed by stream, not by session: otherwise its encoder ran forever).
    this.#rejected.delete(session.id);
    const stream = session.streamName;
    if (!this.#live.has(stream)) return;
    this.#live.delete(stream);
    this.#options.log.info({ stream }, 'publish ended');
    this.emit('unpublish', stream);
  }
}
