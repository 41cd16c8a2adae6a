// Annotation logs shared by every origin through Redis: one Redis stream per scopecast stream
// (XADD, capped), its seq from INCR in the same Lua call so log order and seq order are one.
// Each origin reads the streams its viewers watch with a blocking XREAD from the last id it saw:
// a Redis restart or a slow reader resumes where it stopped, so nothing is lost or repeated.
import { Redis } from 'ioredis';
import type { Annotation, AnnotationEvent, AnnotatorRole } from '../../lib/annotations.js';
import { DEFAULT_RETAIN, deliver, type AnnotationHub, type AnnotationListener } from './hub.js';

export interface RedisHubOptions {
  url: string;
  /** Key prefix, so several deployments can share one Redis. */
  prefix?: string;
  retain?: number;
  now?: () => number;
  onError?: (err: Error) => void;
}

// KEYS[1] seq counter, KEYS[2] stream; ARGV: retain, body (event JSON without seq).
const APPEND = `
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], '*', 'seq', seq, 'ev', ARGV[2])
return seq`;

type Body = Omit<AnnotationEvent, 'seq'>;

/** One blocking reader per watched stream, on its own connection (XREAD BLOCK holds it). */
class StreamReader {
  readonly listeners = new Set<AnnotationListener>();
  readonly ready: Promise<void>;
  readonly #redis: Redis;
  readonly #key: string;
  readonly #onError: (err: Error) => void;
  #lastId = '0';
  #stopped = false;

  constructor(base: Redis, key: string, onError: (err: Error) => void) {
    this.#redis = base.duplicate();
    this.#key = key;
    this.#onError = onError;
    // A duplicate has none of the base's listeners: without one, every failed reconnect is an
    // "Unhandled error event" on stderr.
    this.#redis.on('error', onError);
    this.ready = this.#start();
  }

  async #start(): Promise<void> {
    // Start after the newest entry now: earlier ones are since()'s job.
    const last = await this.#redis.xrevrange(this.#key, '+', '-', 'COUNT', 1).catch(() => []);
    this.#lastId = last[0]?.[0] ?? '0';
    void this.#loop();
  }

  async #loop(): Promise<void> {
    while (!this.#stopped) {
      try {
        const res = await this.#redis.xread('COUNT', 500, 'BLOCK', 1000, 'STREAMS', this.#key, this.#lastId);
        for (const [, entries] of res ?? []) {
          for (const [id, fields] of entries) {
            this.#lastId = id;
            const event = parseEntry(fields);
            if (event) for (const listener of this.listeners) deliver(listener, event);
          }
        }
      } catch (err) {
        if (this.#stopped) return;
        this.#onError(err as Error);
        await new Promise((r) => setTimeout(r, 500)); // Redis down: retry from the same id
      }
    }
  }

  stop(): void {
    this.#stopped = true;
    this.#redis.disconnect();
  }
}

function parseEntry(fields: string[]): AnnotationEvent | null {
  let seq: number | null = null;
  let body: Body | null = null;
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i] === 'seq') seq = Number(fields[i + 1]);
    else if (fields[i] === 'ev') {
      try {
        body = JSON.parse(fields[i + 1]!) as Body;
      } catch {
        body = null;
      }
    }
  }
  return seq !== null && Number.isSafeInteger(seq) && body ? { ...body, seq } : null;
}

export class RedisAnnotationHub implements AnnotationHub {
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #retain: number;
  readonly #now: () => number;
  readonly #onError: (err: Error) => void;
  readonly #readers = new Map<string, StreamReader>();
  #closed = false;

  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  constructor(options: RedisHubOptions) {
    // Commands fail fast while Redis is down (publish is refused, media flows on).
    this.#redis = new Redis(options.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    this.#prefix = options.prefix ?? 'scopecast:';
    this.#retain = options.retain ?? DEFAULT_RETAIN;
    this.#now = options.now ?? (() => Date.now());
    this.#onError = options.onError ?? (() => {});
    this.#redis.on('error', (err: Error) => this.#onError(err));
    this.#redis.defineCommand('scAppend', { numberOfKeys: 2, lua: APPEND });
  }

  #keys(stream: string): { seq: string; log: string } {
    // Stream names are whitelisted ([A-Za-z0-9_-]) before they get here.
    return { seq: `${this.#prefix}ann:${stream}:seq`, log: `${this.#prefix}ann:${stream}:log` };
  }

  async publish(stream: string, author: string, role: AnnotatorRole, annotation: Annotation): Promise<AnnotationEvent> {
    const body: Body = { stream, author, role, receivedAt: this.#now(), annotation };
    const keys = this.#keys(stream);
    const append = (this.#redis as unknown as { scAppend: (a: string, b: string, c: number, d: string) => Promise<number> }).scAppend;
    const seq = await append.call(this.#redis, keys.seq, keys.log, this.#retain, JSON.stringify(body));
    return { ...body, seq: Number(seq) };
  }

  subscribe(stream: string, listener: AnnotationListener): () => void {
    let reader = this.#readers.get(stream);
    if (!reader) {
      reader = new StreamReader(this.#redis, this.#keys(stream).log, this.#onError);
      this.#readers.set(stream, reader);
    }
    reader.listeners.add(listener);
    const r = reader;
    return () => {
      r.listeners.delete(listener);
      if (r.listeners.size === 0 && this.#readers.get(stream) === r) {
        this.#readers.delete(stream);
        r.stop();
      }
    };
  }

  ready(stream: string): Promise<void> {
    return this.#readers.get(stream)?.ready ?? Promise.resolve();
  }

  async since(stream: string, after: number): Promise<AnnotationEvent[]> {
    const entries = await this.#redis.xrange(this.#keys(stream).log, '-', '+');
    return entries.map(([, fields]) => parseEntry(fields)).filter((e): e is AnnotationEvent => e !== null && e.seq > after);
  }

  async forget(stream: string): Promise<void> {
    const keys = this.#keys(stream);
    await this.#redis.del(keys.seq, keys.log);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const reader of this.#readers.values()) reader.stop();
    this.#readers.clear();
    this.#redis.disconnect();
  }
}
