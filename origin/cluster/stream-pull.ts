// The pulling origin's side of a relay: one StreamPull per stream this origin shows but does not
// hold. It reads the owner's relay and stores the media exactly as ingest would, so LL-HLS, WHEP,
// status and annotations work unchanged. A broken relay reconnects (the local stream, its
// playlist and its viewers stay); the owner's `end` ends the local stream.
import type { Dispatcher } from 'undici';
import type { InitInfo } from '../../codecs/fmp4/index.js';
import { ScopecastError } from '../../lib/errors.js';
import { INGEST_HEADERS } from '../../lib/ingest-protocol.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { LiveStream } from '../streams/live-stream.js';
import type { StreamRegistry } from '../streams/registry.js';
import { applyInit, applyPart, applyRealtimeFrame, applyRealtimeInit, clockFrom, parseVideoInit, type RenditionSettings } from '../streams/stream-media.js';
import { RelayDecoder, type RelayRecord } from './relay-protocol.js';

export interface StreamPullOptions {
  stream: string;
  /** Cluster id of the owning origin. */
  owner: string;
  /** The owner's advertised URL. */
  url: string;
  ingestKey: string;
  registry: StreamRegistry;
  renditions: RenditionSettings;
  maxRecordBytes: number;
  /** No record (not even a ping) for this long: the relay is dead, reconnect. */
  silenceMs: number;
  dispatcher?: Dispatcher | undefined;
  /** Before each reconnect: does the owner still hold the stream live? */
  stillOwned: () => Promise<boolean>;
}

export interface StreamPullEvents extends Record<string, unknown[]> {
  /** The local stream has media (an init segment or the realtime feed's init). */
  ready: [];
  /** The relay broke; `attempt` reconnects follow. */
  interrupted: [error: Error, attempt: number];
  /** For good: the owner ended the stream, no longer holds it, or close() was called. */
  closed: [reason: 'ended' | 'gone' | 'closed'];
}

const BACKOFF_MS = [250, 500, 1000, 2000];

export class StreamPull extends TypedEmitter<StreamPullEvents> {
  readonly stream: string;
  readonly owner: string;
  /** Date.now() of the last local request for this stream (idle pulls are released). */
  lastUsedAt = Date.now();
  readonly #options: StreamPullOptions;
  readonly #abort = new AbortController();
  #live: LiveStream | null = null;
  #realtimeInit: InitInfo | null = null;
  #ready = false;
  #closed = false;
  #records = 0;
  #reconnects = 0;

  constructor(options: StreamPullOptions) {
    super();
    this.stream = options.stream;
    this.owner = options.owner;
    this.#options = options;
    void this.#run();
  }

  get ready(): boolean {
    return this.#ready;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get info(): { stream: string; owner: string; ready: boolean; records: number; reconnects: number; lastUsedAt: string } {
    return { stream: this.stream, owner: this.owner, ready: this.#ready, records: this.#records, reconnects: this.#reconnects, lastUsedAt: new Date(this.lastUsedAt).toISOString() };
  }

  /** Resolves when the local stream has media; rejects (SC_ERR_RELAY_UNAVAILABLE) after timeoutMs or if the pull ends first. */
  whenReady(timeoutMs: number): Promise<void> {
    if (this.#ready) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.off('ready', onReady);
        this.off('closed', onClosed);
        if (err) reject(err);
        else resolve();
      };
      const onReady = (): void => done();
      const onClosed = (): void => done(new ScopecastError('SC_ERR_RELAY_UNAVAILABLE', `${this.stream} on origin ${this.owner} ended`));
      const timer = setTimeout(() => done(new ScopecastError('SC_ERR_RELAY_UNAVAILABLE', `no media from origin ${this.owner} within ${timeoutMs} ms`)), timeoutMs);
      this.on('ready', onReady);
      this.on('closed', onClosed);
      if (this.#closed) onClosed();
    });
  }

  /** Stop pulling; the local copy ends (viewers get ENDLIST). Idempotent. */
  close(): void {
    this.#finish('closed');
  }

  async #run(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      let progressed = false;
      try {
        progressed = await this.#pullOnce();
        if (this.#closed) return;
        throw new Error('relay ended without an end record');
      } catch (err) {
        if (this.#closed) return;
        attempt = progressed ? 1 : attempt + 1;
        this.#reconnects += 1;
        this.emit('interrupted', err as Error, attempt);
      }
      await sleep(BACKOFF_MS[Math.min(attempt - 1, BACKOFF_MS.length - 1)]!, this.#abort.signal);
      if (this.#closed) return;
      // Ask the directory before retrying: an ended or moved stream is not chased.
      if (!(await this.#options.stillOwned().catch(() => true))) {
        this.#finish('gone');
        return;
      }
    }
  }

  /** One relay connection; true if any record arrived. Returns when the response ends. */
  async #pullOnce(): Promise<boolean> {
    const { url, stream, ingestKey, dispatcher, silenceMs } = this.#options;
    const attempt = new AbortController();
    const onAbort = (): void => attempt.abort();
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    let silence = setTimeout(() => attempt.abort(), silenceMs);
    let progressed = false;
    try {
      const response = await fetch(`${url.replace(/\/$/, '')}/cluster/relay/${stream}`, {
        headers: { [INGEST_HEADERS.key]: ingestKey },
        signal: attempt.signal,
        ...(dispatcher ? { dispatcher } : {}),
      } as RequestInit);
      if (response.status !== 200 || !response.body) {
        const text = await response.text().catch(() => '');
        if (response.status === 404) this.#finish('gone');
        throw new ScopecastError('SC_ERR_RELAY_UNAVAILABLE', `origin ${this.owner} answered ${response.status} ${text.slice(0, 200)}`);
      }
      const decoder = new RelayDecoder({ maxBodyBytes: this.#options.maxRecordBytes });
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        clearTimeout(silence);
        silence = setTimeout(() => attempt.abort(), silenceMs);
        for (const record of decoder.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength))) {
          progressed = true;
          this.#records += 1;
          if (this.#apply(record)) return progressed;
        }
      }
      return progressed;
    } finally {
      clearTimeout(silence);
      this.#abort.signal.removeEventListener('abort', onAbort);
      attempt.abort();
    }
  }

  /** Store one record locally; true when the stream ended. */
  #apply({ header, body }: RelayRecord): boolean {
    const { registry, stream, owner, renditions } = this.#options;
    if (header.kind === 'stream') {
      this.#live = registry.begin(stream, header.edgeId, header.profile, owner);
      return false;
    }
    if (header.kind === 'end') {
      this.#finish('ended');
      return true;
    }
    const live = this.#live;
    if (!live || live.state !== 'live' || header.kind === 'ping') return false;
    switch (header.kind) {
      case 'init': {
        // A reconnect resends the same init: keeping the generation makes the resent window's
        // parts duplicates (dropped) and spares viewers a discontinuity.
        const current = live.rendition(header.rendition);
        if (current?.init(current.store.generation)?.equals(body)) break;
        applyInit(live, renditions, header.rendition, body, parseVideoInit(body), header);
        this.#markReady();
        break;
      }
      case 'part':
        applyPart(live, header.rendition, body, clockFrom(header.wallClockMs));
        break;
      case 'rt-init':
        if (live.realtimeInit?.equals(body)) break;
        this.#realtimeInit = applyRealtimeInit(live, body);
        this.#markReady();
        break;
      case 'rt':
        if (this.#realtimeInit) applyRealtimeFrame(live, this.#realtimeInit, body, clockFrom(header.wallClockMs));
        break;
    }
    return false;
  }

  #markReady(): void {
    if (this.#ready) return;
    this.#ready = true;
    this.emit('ready');
  }

  #finish(reason: 'ended' | 'gone' | 'closed'): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#live?.state === 'live' && this.#options.registry.get(this.stream) === this.#live) this.#options.registry.end(this.stream);
    this.emit('closed', reason);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}
