import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import NodeMediaServer, { type NmsSession } from 'node-media-server';
import Context from 'node-media-server/src/core/context.js';
import nmsLogger from 'node-media-server/src/core/logger.js';
import type { FastifyBaseLogger } from 'fastify';
import { InvalidStateError, ScopecastError } from '../../lib/errors.js';
import { isStreamName } from '../../lib/stream-name.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { FlvSource } from './flv-source.js';
import { NmsFlvSource } from './flv-source.js';

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
}

export interface RtmpIngestOptions {
  host: string;
  port: number;
  publishGraceMs: number;
  workDir: string;
  log: FastifyBaseLogger;
  /** Decide whether a publish may start; return a reason to refuse it. */
  accept: (stream: string) => string | null;
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
  readonly #rejected = new Set<string>();
  readonly #live = new Map<string, NmsSession>();
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
      options.log[mapped]({ component: 'nms' }, message);
    };
    this.#nms = new NodeMediaServer({
      bind: options.host,
      rtmp: { port: options.port },
      store: { path: storePath },
      webadmin: { enable: false },
    });
    this.#listen('prePublish', (session) => this.#onPrePublish(session));
    this.#listen('postPublish', (session) => this.#onPostPublish(session));
    this.#listen('donePublish', (session) => this.#onDonePublish(session));
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

  /** Stop listening, drop every console connection. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      for (const [event, listener] of this.#listeners) Context.eventEmitter.off(event, listener);
      const streams = [...this.#live.keys()];
      this.#live.clear();
      await this.#nms.stop();
      for (const stream of streams) this.emit('unpublish', stream);
      nmsLogger.log = this.#originalLog;
      if (activeInstance === this) activeInstance = null;
    })();
    return this.#closed;
  }

  #listen(event: 'prePublish' | 'postPublish' | 'donePublish', listener: (session: NmsSession) => void): void {
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
          : this.#options.accept(stream);
    if (reason) {
      this.#rejected.add(session.id);
      const error = new ScopecastError('SC_ERR_STREAM_NAME', reason);
      this.#options.log.warn({ stream: String(stream).slice(0, 64), ip: session.ip, code: error.code }, `publish refused: ${reason}`);
      this.emit('rejected', { stream: String(stream).slice(0, 64), ip: session.ip, reason });
      session.close();
      return;
    }
    if (session.broadcast) session.broadcast.publishGraceMs = this.#options.publishGraceMs;
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
    if (this.#rejected.delete(session.id)) return;
    const stream = session.streamName;
    if (!this.#live.has(stream)) return;
    this.#live.delete(stream);
    this.#options.log.info({ stream }, 'publish ended');
    this.emit('unpublish', stream);
  }
}
