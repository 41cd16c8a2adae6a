import type { FastifyBaseLogger } from 'fastify';
import type { Dispatcher } from 'undici';
import { ScopecastError } from '../../lib/errors.js';
import { INGEST_HEADERS } from '../../lib/ingest-protocol.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';

export interface UplinkTarget {
  /** Origin base URL. */
  url: string;
  ingestKey: string;
  edgeId: string;
  requestTimeoutMs: number;
  /** No answer after max(this, 3x the slowest recent answer): abandon and resend on a fresh connection. */
  stallTimeoutMs: number;
  retryMinMs: number;
  retryMaxMs: number;
  /** Queue bound; beyond it, whole GOPs are dropped oldest first. */
  queueBytes: number;
  /** Connection pool for an https:// origin (trusted CA, TLS floor: lib/tls.ts); absent = Node's global one. */
  dispatcher?: Dispatcher | undefined;
}

export interface UplinkStreamInfo {
  stream: string;
  rendition: string;
  profile: string;
  partTarget: number;
  /** Declared bitrate for the master playlist, bit/s. */
  bandwidth: number;
}

type Item =
  | { kind: 'init'; data: Buffer }
  | { kind: 'fragment'; data: Buffer; keyframe: boolean; wallClockMs: number | undefined }
  | { kind: 'end' };

export interface StreamUplinkEvents extends Record<string, unknown[]> {
  /** A fragment reached the origin; delay = now - its ingest wall clock. */
  sent: [info: { kind: 'init' | 'fragment' | 'end'; bytes: number; delayMs: number | undefined }];
  /** A request failed; it will be retried. stalled = no answer in time (the link, not the origin). */
  failed: [error: Error, stalled: boolean];
  /**
   * Fragments dropped because the queue was full (uplink too slow or down); span = the ingest
   * wall clocks of the first and last dropped fragment, when known.
   */
  dropped: [count: number, bytes: number, span: { fromMs: number; toMs: number } | null];
  /** Everything queued before end() was delivered (or abandoned by close()). */
  drained: [];
}

/**
 * The edge -> origin CMAF push for one stream rendition: an ordered queue sent one request at a
 * time, retried with backoff, bounded in bytes. The latest init is always kept so the origin
 * can be (re)started from it.
 */
export class StreamUplink extends TypedEmitter<StreamUplinkEvents> {
  readonly #target: UplinkTarget;
  readonly #info: UplinkStreamInfo;
  readonly #log: FastifyBaseLogger;
  readonly #queue: Item[] = [];
  #queuedBytes = 0;
  #latestInit: Buffer | null = null;
  #needInit = false;
  #sending = false;
  #ended = false;
  #closed = false;
  #abort = new AbortController();
  #retryTimer: NodeJS.Timeout | null = null;
  /**
   * The slowest recent answer, ms, decaying by a tenth per request: an origin (or a box) that is
   * slow now and then is not taken for a dead link, while a quiet link keeps a short deadline.
   */
  #slowAnswerMs = 100;
  /** Stalls of the item at the head of the queue. */
  #itemStalls = 0;
  #failures = 0;
  #sentFragments = 0;
  #droppedFragments = 0;
  #connected = false;

  constructor(target: UplinkTarget, info: UplinkStreamInfo, log: FastifyBaseLogger) {
    super();
    this.#target = target;
    this.#info = info;
    this.#log = log;
  }

  get stats(): { queuedBytes: number; queued: number; sentFragments: number; droppedFragments: number; failures: number; connected: boolean } {
    return {
      queuedBytes: this.#queuedBytes,
      queued: this.#queue.length,
      sentFragments: this.#sentFragments,
      droppedFragments: this.#droppedFragments,
      failures: this.#failures,
      connected: this.#connected,
    };
  }

  sendInit(data: Buffer): void {
    if (this.#ended || this.#closed) return;
    this.#latestInit = data;
    this.#push({ kind: 'init', data });
  }

  sendFragment(data: Buffer, keyframe: boolean, wallClockMs: number | undefined): void {
    if (this.#ended || this.#closed) return;
    this.#push({ kind: 'fragment', data, keyframe, wallClockMs });
  }

  /** The publish ended: deliver what is queued, then tell the origin. */
  end(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    this.#push({ kind: 'end' });
  }

  /** Wait until the queue (including the end marker) is delivered, or timeoutMs. */
  async drain(timeoutMs: number): Promise<boolean> {
    if (this.#queue.length === 0 && !this.#sending) return true;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('drained', onDrained);
        resolve(false);
      }, timeoutMs);
      const onDrained = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('drained', onDrained);
    });
  }

  /** Abandon the queue and any request in flight. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#queue.length = 0;
    this.#queuedBytes = 0;
    this.emit('drained');
  }

  #push(item: Item): void {
    this.#queue.push(item);
    this.#queuedBytes += item.kind === 'end' ? 0 : item.data.length;
    this.#enforceBound();
    this.#pump();
  }

  /** Over the bound: drop the oldest whole GOPs (a GOP without its keyframe is undecodable). */
  #enforceBound(): void {
    let dropped = 0;
    let droppedBytes = 0;
    let fromMs = Number.POSITIVE_INFINITY;
    let toMs = Number.NEGATIVE_INFINITY;
    while (this.#queuedBytes > this.#target.queueBytes) {
      // Never drop the item being sent (index 0 while sending).
      const start = this.#sending ? 1 : 0;
      const first = this.#queue.findIndex((item, i) => i >= start && item.kind === 'fragment');
      if (first < 0) break;
      let end = first + 1;
      while (end < this.#queue.length) {
        const item = this.#queue[end]!;
        if (item.kind !== 'fragment' || item.keyframe) break;
        end += 1;
      }
      if (end >= this.#queue.length) break; // only the newest GOP left: keep it
      for (const item of this.#queue.splice(first, end - first)) {
        if (item.kind !== 'end') {
          this.#queuedBytes -= item.data.length;
          droppedBytes += item.data.length;
        }
        if (item.kind === 'fragment' && item.wallClockMs !== undefined) {
          fromMs = Math.min(fromMs, item.wallClockMs);
          toMs = Math.max(toMs, item.wallClockMs);
        }
        dropped += 1;
      }
    }
    if (dropped > 0) {
      this.#droppedFragments += dropped;
      this.#log.warn({ stream: this.#info.stream, dropped, droppedBytes }, 'uplink queue full: dropped oldest GOP');
      this.emit('dropped', dropped, droppedBytes, Number.isFinite(fromMs) ? { fromMs, toMs } : null);
    }
  }

  #pump(): void {
    if (this.#sending || this.#closed || this.#retryTimer) return;
    const item = this.#queue[0];
    if (!item) {
      this.emit('drained');
      return;
    }
    this.#sending = true;
    const started = Date.now();
    void this.#send(item).then(
      () => {
        this.#sending = false;
        // Slow 5G links and busy origins answer slowly, and are not stalled for it.
        this.#slowAnswerMs = Math.max(Date.now() - started, this.#slowAnswerMs * 0.9);
        this.#failures = 0;
        this.#itemStalls = 0;
        this.#connected = true;
        this.#queue.shift();
        if (item.kind !== 'end') this.#queuedBytes -= item.data.length;
        if (item.kind === 'fragment') this.#sentFragments += 1;
        this.emit('sent', {
          kind: item.kind,
          bytes: item.kind === 'end' ? 0 : item.data.length,
          delayMs: item.kind === 'fragment' && item.wallClockMs !== undefined ? Date.now() - item.wallClockMs : undefined,
        });
        this.#pump();
      },
      (err: Error) => {
        this.#sending = false;
        if (this.#closed) return;
        this.#failures += 1;
        this.#connected = false;
        const stalled = err instanceof StallError;
        if (stalled) this.#itemStalls += 1;
        // Backing off spares an origin that answers with errors; an unanswered link costs a SYN
        // per retry, and backing off there only delays the resume once the link is back.
        const delay = stalled ? this.#target.retryMinMs : Math.min(this.#target.retryMaxMs, this.#target.retryMinMs * 2 ** Math.min(this.#failures - 1, 10));
        this.#log.warn({ stream: this.#info.stream, err: err.message, retryInMs: delay }, stalled ? 'uplink stalled; resending on a new connection' : 'uplink request failed');
        this.emit('failed', err, stalled);
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = null;
          this.#pump();
        }, delay);
      },
    );
  }

  async #send(item: Item): Promise<void> {
    const { stream, rendition } = this.#info;
    const base = `${this.#target.url.replace(/\/$/, '')}/ingest/${stream}`;
    if (item.kind === 'end') {
      const res = await this.#request(base, { method: 'DELETE' });
      // 404: the origin forgot the stream (restarted); nothing left to end.
      if (!res.ok && res.status !== 404) throw await this.#failure(res);
      return;
    }
    if (item.kind === 'fragment' && this.#needInit) {
      // The origin lost our rendition (restart): re-send the latest init first.
      if (this.#latestInit) await this.#sendInitNow(this.#latestInit);
      this.#needInit = false;
    }
    if (item.kind === 'init') {
      await this.#sendInitNow(item.data);
      this.#needInit = false;
      return;
    }
    const res = await this.#request(`${base}/${rendition}/fragment`, {
      method: 'POST',
      body: item.data,
      headers: { 'content-type': 'application/octet-stream' },
    });
    if (res.status === 409 || res.status === 404) {
      this.#needInit = true;
      throw await this.#failure(res);
    }
    if (!res.ok) throw await this.#failure(res);
    await res.arrayBuffer();
  }

  async #sendInitNow(data: Buffer): Promise<void> {
    const { stream, rendition, profile, partTarget, bandwidth } = this.#info;
    const res = await this.#request(`${this.#target.url.replace(/\/$/, '')}/ingest/${stream}/${rendition}/init`, {
      method: 'PUT',
      body: data,
      headers: {
        'content-type': 'application/octet-stream',
        [INGEST_HEADERS.profile]: profile,
        [INGEST_HEADERS.partTarget]: String(partTarget),
        [INGEST_HEADERS.bandwidth]: String(Math.round(bandwidth)),
      },
    });
    if (!res.ok) throw await this.#failure(res);
    await res.arrayBuffer();
  }

  #request(url: string, init: { method: string; body?: Buffer; headers?: Record<string, string> }): Promise<Response> {
    const { stallTimeoutMs, requestTimeoutMs } = this.#target;
    // Each stall of the same item doubles its deadline: a link too slow for the deadline still
    // gets the item through (and raises the slowest recent answer), a dead one is retried quickly.
    const stallMs = Math.round(Math.min(requestTimeoutMs, Math.max(stallTimeoutMs, 3 * this.#slowAnswerMs) * 2 ** Math.min(this.#itemStalls, 6)));
    // Aborting an unanswered request destroys its connection: the retry opens a fresh one.
    const timeout = AbortSignal.timeout(stallMs);
    return fetch(url, {
      method: init.method,
      // A Buffer is a Uint8Array view; fetch sends exactly its bytes.
      ...(init.body ? { body: init.body as unknown as Uint8Array<ArrayBuffer> } : {}),
      headers: { ...init.headers, [INGEST_HEADERS.key]: this.#target.ingestKey, [INGEST_HEADERS.edge]: this.#target.edgeId },
      signal: AbortSignal.any([timeout, this.#abort.signal]),
      ...(this.#target.dispatcher ? { dispatcher: this.#target.dispatcher } : {}),
    }).catch((err: unknown) => {
      if (timeout.aborted && !this.#abort.signal.aborted) throw new StallError(`no answer from the origin in ${stallMs} ms`);
      throw err;
    });
  }

  async #failure(res: Response): Promise<Error> {
    const text = (await res.text().catch(() => '')).slice(0, 300);
    return new ScopecastError('SC_ERR_UPLINK', `HTTP ${res.status} ${text}`);
  }
}

/** An upload went unanswered past its stall deadline: the link, not the origin. */
class StallError extends ScopecastError {
  constructor(detail: string) {
    super('SC_ERR_UPLINK', detail);
    this.name = 'StallError';
  }
}
