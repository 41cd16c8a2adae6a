// The cluster's shared view in Redis: which origin holds which live stream (and the URL to pull
// it from), which origins are up, and every origin's viewer counts per stream. Entries carry a
// TTL renewed by each origin's heartbeat, so a crashed origin's streams disappear on their own.
// Redis down: lookups answer "unknown" at once and the origin serves what it has.
import { Redis } from 'ioredis';

export interface ClusterSelf {
  id: string;
  /** Where other origins pull from; '' = nowhere. */
  url: string;
}

export interface StreamEntry {
  name: string;
  origin: string;
  url: string;
  edgeId: string;
  profile: string;
  startedAt: string;
}

export interface OriginEntry {
  id: string;
  url: string;
  seenAt: number;
}

export interface ViewerCounts {
  llhls: number;
  webrtc: number;
}

export interface ClusterViewers {
  total: ViewerCounts;
  byOrigin: Record<string, ViewerCounts>;
}

export interface DirectoryOptions {
  url: string;
  self: ClusterSelf;
  /** Entries expire this long after the last heartbeat, ms. */
  ttlMs: number;
  prefix?: string;
  onError?: (err: Error) => void;
}

// Delete the stream entry only while it is still ours (another origin may have taken the name).
const WITHDRAW = `
local v = redis.call('GET', KEYS[1])
if v and cjson.decode(v).origin == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export class ClusterDirectory {
  readonly self: ClusterSelf;
  readonly #redis: Redis;
  readonly #prefix: string;
  readonly #ttlMs: number;
  #closed = false;

  constructor(options: DirectoryOptions) {
    this.self = options.self;
    this.#ttlMs = options.ttlMs;
    this.#prefix = `${options.prefix ?? 'scopecast:'}cluster:`;
    this.#redis = new Redis(options.url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
    this.#redis.on('error', (err: Error) => options.onError?.(err));
  }

  get connected(): boolean {
    return this.#redis.status === 'ready';
  }

  /** Renew this origin, the streams it holds and its viewer counts (one round trip). */
  async heartbeat(owned: readonly Omit<StreamEntry, 'origin' | 'url'>[], viewers: ReadonlyMap<string, ViewerCounts>): Promise<void> {
    const now = Date.now();
    const batch = this.#redis.multi();
    batch.set(this.#key('origin', this.self.id), JSON.stringify({ id: this.self.id, url: this.self.url, seenAt: now }), 'PX', this.#ttlMs);
    for (const s of owned) batch.set(this.#key('stream', s.name), JSON.stringify({ ...s, origin: this.self.id, url: this.self.url }), 'PX', this.#ttlMs);
    for (const [stream, counts] of viewers) {
      const key = this.#key('viewers', stream);
      batch.hset(key, this.self.id, JSON.stringify({ ...counts, at: now }));
      batch.pexpire(key, this.#ttlMs);
    }
    await batch.exec();
  }

  async withdraw(name: string): Promise<void> {
    await this.#redis.eval(WITHDRAW, 1, this.#key('stream', name), this.self.id);
  }

  /** Who holds this stream; null when nobody. Rejects when Redis cannot say (down). */
  async lookup(name: string): Promise<StreamEntry | null> {
    const raw = await this.#redis.get(this.#key('stream', name));
    return raw ? parseJson<StreamEntry>(raw) : null;
  }

  async streams(): Promise<StreamEntry[]> {
    return this.#values<StreamEntry>('stream');
  }

  async origins(): Promise<OriginEntry[]> {
    return this.#values<OriginEntry>('origin');
  }

  /** Every origin's fresh counts for this stream, and their sum. */
  async viewers(name: string): Promise<ClusterViewers> {
    const raw = await this.#redis.hgetall(this.#key('viewers', name));
    const byOrigin: Record<string, ViewerCounts> = {};
    const total: ViewerCounts = { llhls: 0, webrtc: 0 };
    for (const [origin, value] of Object.entries(raw)) {
      const v = parseJson<ViewerCounts & { at: number }>(value);
      if (!v || Date.now() - v.at > this.#ttlMs) continue;
      byOrigin[origin] = { llhls: v.llhls, webrtc: v.webrtc };
      total.llhls += v.llhls;
      total.webrtc += v.webrtc;
    }
    return { total, byOrigin };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#redis.disconnect();
  }

  #key(kind: 'origin' | 'stream' | 'viewers', name: string): string {
    return `${this.#prefix}${kind}:${name}`;
  }

  async #values<T>(kind: 'origin' | 'stream'): Promise<T[]> {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.#redis.scan(cursor, 'MATCH', `${this.#prefix}${kind}:*`, 'COUNT', 500);
      cursor = next;
      keys.push(...batch);
    } while (cursor !== '0' && keys.length < 10_000);
    if (keys.length === 0) return [];
    const values = await this.#redis.mget(keys);
    return values.flatMap((v) => (v ? [parseJson<T>(v)].filter((x): x is T => x !== null) : []));
  }
}

function parseJson<T>(raw: string): T | null {
  try {
    return JSON.parse(raw) as T;
  } catch {
    return null;
  }
}
