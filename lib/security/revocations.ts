// Revoked token ids (jti), kept until the token would have expired anyway. In-process for one
// machine; through Redis for several origins: a sorted set (score = expiry) is the record, a
// pub/sub channel tells every node at once, and a node that reconnects reloads the whole set,
// so a revocation published while it was away is not missed.
import { Redis } from 'ioredis';
import { TypedEmitter } from '../typed-emitter.js';

export interface RevocationEvents extends Record<string, unknown[]> {
  /** A token id was revoked (here or on another node): end its live sessions. */
  revoked: [jti: string, expUnix: number];
}

export interface Revocations extends TypedEmitter<RevocationEvents> {
  has(jti: string): boolean;
  /** Revoke until `expUnix` (the token's own expiry, unix seconds). */
  revoke(jti: string, expUnix: number): Promise<void>;
  /** Every revocation still in force, for a node that joins (edges get it over their link). */
  list(): Array<[jti: string, expUnix: number]>;
  /** Whether the shared store is reachable (always true in-process). */
  readonly connected: boolean;
  /** Take revocations learnt elsewhere (an edge from its origin). */
  merge(entries: Iterable<[string, number]>): void;
  close(): Promise<void>;
}

const JTI = /^[A-Za-z0-9_.:-]{1,128}$/;

export class LocalRevocations extends TypedEmitter<RevocationEvents> implements Revocations {
  protected readonly entries = new Map<string, number>();
  readonly #now: () => number;
  #pruneTimer: NodeJS.Timeout | null;

  constructor(now: () => number = Date.now) {
    super();
    this.#now = now;
    this.#pruneTimer = setInterval(() => this.prune(), 60_000);
    this.#pruneTimer.unref();
  }

  has(jti: string): boolean {
    return this.entries.has(jti);
  }

  get connected(): boolean {
    return true;
  }

  async revoke(jti: string, expUnix: number): Promise<void> {
    this.merge([[jti, expUnix]]);
  }

  list(): Array<[string, number]> {
    this.prune();
    return [...this.entries];
  }

  merge(entries: Iterable<[string, number]>): void {
    for (const [jti, exp] of entries) {
      if (!JTI.test(jti) || !Number.isFinite(exp) || this.entries.has(jti)) continue;
      this.entries.set(jti, exp);
      this.emit('revoked', jti, exp);
    }
  }

  prune(): void {
    const now = this.#now() / 1000;
    // A revoked token past its expiry (plus verification leeway) is refused as expired anyway.
    for (const [jti, exp] of this.entries) if (exp + 60 < now) this.entries.delete(jti);
  }

  async close(): Promise<void> {
    if (this.#pruneTimer) clearInterval(this.#pruneTimer);
    this.#pruneTimer = null;
    this.removeAllListeners();
  }
}

export interface RedisRevocationsOptions {
  url: string;
  prefix?: string;
  onError?: (err: Error) => void;
}

export class RedisRevocations extends LocalRevocations {
  readonly #redis: Redis;
  readonly #subscriber: Redis;
  readonly #key: string;
  readonly #channel: string;
  /** Resolves when the first load from Redis is done (or failed: the node starts empty). */
  readonly ready: Promise<void>;

  constructor(options: RedisRevocationsOptions) {
    super();
    const prefix = options.prefix ?? 'scopecast:';
    this.#key = `${prefix}revocations`;
    this.#channel = `${prefix}revocations`;
    const onError = options.onError ?? (() => {});
    this.#redis = new Redis(options.url, { lazyConnect: false, maxRetriesPerRequest: 2, enableOfflineQueue: true });
    this.#subscriber = new Redis(options.url, { lazyConnect: false, maxRetriesPerRequest: null });
    this.#redis.on('error', onError);
    this.#subscriber.on('error', onError);
    this.#subscriber.on('message', (_channel: string, message: string) => {
      const [jti, exp] = message.split(' ');
      if (jti) this.merge([[jti, Number(exp)]]);
    });
    // Every (re)connect reloads the set: what was published while this node was away is there.
    this.#subscriber.on('ready', () => void this.#load().catch(onError));
    this.ready = this.#subscriber.subscribe(this.#channel).then(
      () => this.#load(),
      (err: Error) => onError(err),
    ).catch((err: Error) => onError(err));
  }

  override get connected(): boolean {
    return this.#redis.status === 'ready' && this.#subscriber.status === 'ready';
  }

  override async revoke(jti: string, expUnix: number): Promise<void> {
    this.merge([[jti, expUnix]]);
    await this.#redis.multi().zadd(this.#key, expUnix, jti).publish(this.#channel, `${jti} ${expUnix}`).exec();
  }

  async #load(): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    await this.#redis.zremrangebyscore(this.#key, '-inf', now - 60);
    const flat = await this.#redis.zrange(this.#key, 0, -1, 'WITHSCORES');
    const entries: Array<[string, number]> = [];
    for (let i = 0; i + 1 < flat.length; i += 2) entries.push([flat[i]!, Number(flat[i + 1])]);
    this.merge(entries);
  }

  override async close(): Promise<void> {
    await super.close();
    this.#subscriber.disconnect();
    this.#redis.disconnect();
  }
}
