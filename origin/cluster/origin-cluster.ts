// This origin's part in a cluster of origins sharing one Redis (config.redisUrl): it announces
// the streams its edges push here, publishes its viewer counts, and pulls a stream held by
// another origin the first time a viewer here asks for it (released again when nobody watches).
import { hostname } from 'node:os';
import type { FastifyBaseLogger } from 'fastify';
import { Agent, type Dispatcher } from 'undici';
import type { OriginConfig } from '../../configs/index.js';
import type { TlsFiles } from '../../configs/index.js';
import { ScopecastError } from '../../lib/errors.js';
import { tlsConnectOptions } from '../../lib/tls.js';
import type { LatencyBook } from '../latency/latency-book.js';
import type { LiveStream } from '../streams/live-stream.js';
import type { StreamRegistry } from '../streams/registry.js';
import { ClusterDirectory, type ClusterViewers, type OriginEntry, type StreamEntry, type ViewerCounts } from './directory.js';
import { StreamPull } from './stream-pull.js';

export interface OriginClusterOptions {
  config: Readonly<OriginConfig>;
  registry: StreamRegistry;
  /** The CA outbound pulls trust (tls.caFile, read by the caller); undefined = the system's. */
  trustedCa: TlsFiles['client'];
  latency: LatencyBook;
  /** WebRTC sessions on this origin for a stream (viewers that may not report latency). */
  webrtcSessions: (stream: string) => number;
  log: FastifyBaseLogger;
  onRedisError?: (err: Error) => void;
}

export interface ClusterStatus {
  self: { id: string; url: string; redis: 'up' | 'down' };
  origins: OriginEntry[];
  streams: Array<StreamEntry & { viewers: ClusterViewers }>;
  pulls: StreamPull['info'][];
}

/** How long a first viewer waits for a pulled stream's media before a 502. */
const PULL_READY_TIMEOUT_MS = 5000;
const RELAY_PING_MS = 2000;

export function clusterId(config: Readonly<OriginConfig>): string {
  if (config.cluster.id) return config.cluster.id;
  const host = hostname().toLowerCase().replace(/[^a-z0-9-]/g, '-').replace(/^-+/, '').slice(0, 24) || 'origin';
  return `${host}-${config.http.port}`;
}

export class OriginCluster {
  readonly id: string;
  readonly relayPingMs = RELAY_PING_MS;
  readonly #options: OriginClusterOptions;
  readonly #directory: ClusterDirectory | null;
  readonly #pulls = new Map<string, StreamPull>();
  readonly #locating = new Map<string, Promise<void>>();
  readonly #dispatcher: Dispatcher | undefined;
  readonly #timers: NodeJS.Timeout[] = [];
  readonly #offRegistry: Array<() => void> = [];
  #closed = false;

  constructor(options: OriginClusterOptions) {
    this.#options = options;
    const { config, registry } = options;
    this.id = clusterId(config);
    const heartbeatMs = config.cluster.heartbeatSeconds * 1000;
    this.#directory = config.redisUrl
      ? new ClusterDirectory({ url: config.redisUrl, self: { id: this.id, url: config.cluster.advertiseUrl }, ttlMs: heartbeatMs * 3, ...(options.onRedisError ? { onError: options.onRedisError } : {}) })
      : null;
    if (!this.#directory) return;
    this.#dispatcher = new Agent({ connect: tlsConnectOptions(options.trustedCa), bodyTimeout: 0 });
    const onStarted = (stream: LiveStream): void => {
      if (!stream.relayedFrom) this.#beat();
    };
    const onEnded = (stream: LiveStream): void => {
      if (!stream.relayedFrom) this.#directory?.withdraw(stream.name).catch(() => undefined);
    };
    registry.on('started', onStarted);
    registry.on('ended', onEnded);
    this.#offRegistry.push(() => registry.off('started', onStarted), () => registry.off('ended', onEnded));
    this.#every(heartbeatMs, () => this.#beat());
    this.#every(Math.min(5000, (config.cluster.pullIdleSeconds * 1000) / 2), () => this.#releaseIdle());
    this.#beat();
  }

  get enabled(): boolean {
    return this.#directory !== null;
  }

  /** Streams being pulled from other origins now. */
  get pulling(): string[] {
    return [...this.#pulls.keys()];
  }

  get connected(): boolean {
    return this.#directory?.connected ?? false;
  }

  /**
   * Called before a viewer request for `stream` is answered: if another origin holds it live,
   * pull it here (once) and wait for its first media. Does nothing for streams held here or
   * unknown to the cluster (the route then answers as it always did).
   */
  locate(stream: string): Promise<void> {
    const pull = this.#pulls.get(stream);
    if (pull && !pull.closed) {
      pull.lastUsedAt = Date.now();
      return pull.ready ? Promise.resolve() : pull.whenReady(PULL_READY_TIMEOUT_MS);
    }
    if (!this.#directory || this.#closed || this.#options.registry.get(stream)?.state === 'live') return Promise.resolve();
    let locating = this.#locating.get(stream);
    if (!locating) {
      locating = this.#startPull(stream).finally(() => this.#locating.delete(stream));
      this.#locating.set(stream, locating);
    }
    return locating;
  }

  async status(): Promise<ClusterStatus> {
    const self = { id: this.id, url: this.#options.config.cluster.advertiseUrl, redis: this.connected ? ('up' as const) : ('down' as const) };
    const pulls = [...this.#pulls.values()].map((p) => p.info);
    const directory = this.#directory;
    if (!directory) return { self, origins: [], streams: [], pulls };
    const [origins, entries] = await Promise.all([directory.origins(), directory.streams()]);
    const streams = await Promise.all(entries.map(async (entry) => ({ ...entry, viewers: await directory.viewers(entry.name) })));
    return { self, origins: origins.sort((a, b) => a.id.localeCompare(b.id)), streams: streams.sort((a, b) => a.name.localeCompare(b.name)), pulls };
  }

  /** Streams live on other origins (for /api/streams); [] without Redis or when it is down. */
  async remoteStreams(): Promise<StreamEntry[]> {
    if (!this.#directory) return [];
    const entries = await this.#directory.streams().catch(() => []);
    return entries.filter((e) => e.origin !== this.id);
  }

  /** Stop pulling, withdraw this origin's streams, stop the timers. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#timers) clearInterval(timer);
    for (const off of this.#offRegistry) off();
    for (const pull of this.#pulls.values()) pull.close();
    this.#pulls.clear();
    const directory = this.#directory;
    if (directory) {
      const owned = this.#options.registry.list().filter((s) => s.state === 'live' && !s.relayedFrom);
      await Promise.all(owned.map((s) => directory.withdraw(s.name).catch(() => undefined)));
      directory.close();
    }
    await this.#dispatcher?.destroy().catch(() => undefined);
  }

  async #startPull(stream: string): Promise<void> {
    const directory = this.#directory!;
    // Redis down: streams held elsewhere cannot be found; this origin serves its own.
    const entry = await directory.lookup(stream).catch(() => null);
    if (!entry || entry.origin === this.id || this.#closed) return;
    if (!entry.url) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', `${stream} is live on origin ${entry.origin}, which has no cluster.advertiseUrl`);
    const { config, registry, log } = this.#options;
    const pull = new StreamPull({
      stream,
      owner: entry.origin,
      url: entry.url,
      ingestKey: config.ingest.keys[0]!,
      registry,
      renditions: config.hls,
      maxRecordBytes: config.ingest.maxFragmentBytes,
      silenceMs: RELAY_PING_MS * 3,
      dispatcher: this.#dispatcher,
      // Rejects while Redis is down: the pull keeps retrying the owner it knows.
      stillOwned: async () => (await directory.lookup(stream))?.origin === entry.origin,
    });
    this.#pulls.set(stream, pull);
    log.info({ stream, owner: entry.origin }, 'pulling stream from another origin');
    pull.on('interrupted', (err, attempt) => log.warn({ stream, owner: entry.origin, attempt, err: err.message }, 'relay from origin interrupted; reconnecting'));
    pull.once('closed', (reason) => {
      if (this.#pulls.get(stream) === pull) this.#pulls.delete(stream);
      log.info({ stream, owner: entry.origin, reason }, 'stopped pulling stream');
    });
    await pull.whenReady(PULL_READY_TIMEOUT_MS);
  }

  #beat(): void {
    const directory = this.#directory;
    if (!directory || this.#closed) return;
    const { registry, latency, webrtcSessions } = this.#options;
    const live = registry.list().filter((s) => s.state === 'live');
    const owned = live
      .filter((s) => !s.relayedFrom)
      .map((s) => ({ name: s.name, edgeId: s.edgeId, profile: s.profile, startedAt: s.startedAt.toISOString() }));
    const viewers = new Map<string, ViewerCounts>();
    for (const s of live) {
      const reported = latency.viewerCounts(s.name);
      viewers.set(s.name, { llhls: reported.llhls, webrtc: Math.max(reported.webrtc, webrtcSessions(s.name)) });
    }
    directory.heartbeat(owned, viewers).catch(() => undefined);
  }

  #releaseIdle(): void {
    const idleMs = this.#options.config.cluster.pullIdleSeconds * 1000;
    for (const pull of this.#pulls.values()) {
      if (Date.now() - pull.lastUsedAt < idleMs) continue;
      const reported = this.#options.latency.viewerCounts(pull.stream);
      // A viewer parked on a blocking reload is watching, though its request began a while ago.
      const parked = this.#options.registry.get(pull.stream)?.renditions.some((r) => r.waiting > 0) ?? false;
      if (parked || reported.llhls + reported.webrtc + this.#options.webrtcSessions(pull.stream) > 0) {
        pull.lastUsedAt = Date.now();
        continue;
      }
      pull.close();
    }
  }

  #every(ms: number, fn: () => void): void {
    const timer = setInterval(fn, ms);
    timer.unref();
    this.#timers.push(timer);
  }
}
