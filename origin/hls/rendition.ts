import { ScopecastError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { FragmentInfo, InitInfo } from '../../codecs/fmp4/index.js';
import { PartStore, type Part, type Segment } from './part-store.js';
import { writeMediaPlaylist } from './playlist.js';

export interface RenditionOptions {
  name: string;
  partTarget: number;
  windowSegments: number;
  partHoldBackParts: number;
  /** Declared bitrate from the edge's profile, bit/s (until measured). */
  declaredBandwidth: number;
}

export interface RenditionEvents extends Record<string, unknown[]> {
  /**
   * A segment completed (the next keyframe, a new init, or end) with the init segment of its
   * generation: what a recorder needs. Emitted synchronously; listeners must not block.
   */
  segment: [segment: Segment, init: Buffer];
}

interface Waiter {
  ready: () => boolean;
  resolve: () => void;
}

/**
 * One rendition of a live stream at the origin: its init segments, its LL-HLS timeline and the
 * requests blocked on it. Owned by a LiveStream; close() releases every waiter.
 */
export class Rendition extends TypedEmitter<RenditionEvents> {
  readonly name: string;
  readonly partTarget: number;
  readonly #store: PartStore;
  readonly #partHoldBackParts: number;
  readonly #inits = new Map<number, { data: Buffer; info: InitInfo }>();
  readonly #waiters = new Set<Waiter>();
  #declaredBandwidth: number;
  #peakBandwidth = 0;
  #playlistCache: string | null = null;
  #lastFragmentSequence = -1;
  #closed = false;

  constructor(options: RenditionOptions) {
    super();
    this.name = options.name;
    this.partTarget = options.partTarget;
    this.#partHoldBackParts = options.partHoldBackParts;
    this.#declaredBandwidth = options.declaredBandwidth;
    this.#store = new PartStore({ windowSegments: options.windowSegments, onSegmentComplete: (s) => this.#segmentComplete(s) });
  }

  /** A new init segment (first, or after the edge's encoder restarted). */
  setInit(data: Buffer, info: InitInfo): number {
    this.#assertOpen();
    const generation = this.#store.newGeneration();
    this.#inits.set(generation, { data, info });
    // Only the generations still referenced by the window need their init.
    const oldest = this.#store.segments[0]?.generation ?? generation;
    for (const g of this.#inits.keys()) if (g < oldest) this.#inits.delete(g);
    this.#lastFragmentSequence = -1;
    this.#changed();
    return generation;
  }

  get hasInit(): boolean {
    return this.#inits.size > 0;
  }

  get initInfo(): InitInfo | undefined {
    return this.#inits.get(this.#store.generation)?.info;
  }

  init(generation: number): Buffer | undefined {
    return this.#inits.get(generation)?.data;
  }

  /**
   * Add one fragment (an LL-HLS part). Returns null for a duplicate (the edge retried a
   * request whose response it lost).
   */
  addFragment(data: Buffer, info: FragmentInfo): Part | null {
    this.#assertOpen();
    if (!this.hasInit) throw new ScopecastError('SC_ERR_INGEST_ORDER');
    if (info.sequence <= this.#lastFragmentSequence) return null;
    this.#lastFragmentSequence = info.sequence;
    const part = this.#store.addPart({
      data,
      duration: info.durationSec,
      independent: info.startsWithKeyframe,
      wallClockMs: info.prft?.wallClockMs,
    });
    const segment = this.#store.segment(part.msn);
    if (part.index === 0 && segment) this.#measureBandwidth();
    this.#changed();
    return part;
  }

  end(): void {
    if (this.#closed || this.#store.ended) return;
    this.#store.end();
    this.#measureBandwidth();
    this.#changed();
  }

  get ended(): boolean {
    return this.#store.ended;
  }

  get store(): PartStore {
    return this.#store;
  }

  get bandwidth(): number {
    return Math.max(this.#declaredBandwidth, this.#peakBandwidth);
  }

  playlist(): string {
    this.#playlistCache ??= writeMediaPlaylist({
      store: this.#store,
      partTarget: this.partTarget,
      partHoldBackParts: this.#partHoldBackParts,
      partsListedSegments: 3,
    });
    return this.#playlistCache;
  }

  /** Resolves true when ready() holds, false on timeout, abort or close. */
  waitUntil(ready: () => boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
    if (ready()) return Promise.resolve(true);
    if (this.#closed || signal?.aborted) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const finish = (value: boolean): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#waiters.delete(waiter);
        resolve(value);
      };
      const onAbort = (): void => finish(false);
      const waiter: Waiter = { ready, resolve: () => finish(ready()) };
      const timer = setTimeout(() => finish(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#waiters.add(waiter);
    });
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  /** Release every blocked request; later waits resolve false at once. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const waiter of [...this.#waiters]) waiter.resolve();
  }

  // setInit completes the open segment before it stores the new init, so the old one is still here.
  #segmentComplete(segment: Segment): void {
    const init = this.#inits.get(segment.generation)?.data;
    if (init) this.emit('segment', segment, init);
  }

  #changed(): void {
    this.#playlistCache = null;
    for (const waiter of [...this.#waiters]) if (waiter.ready()) waiter.resolve();
  }

  #measureBandwidth(): void {
    for (const segment of this.#store.segments) {
      if (!segment.complete || !segment.data || segment.duration <= 0) continue;
      this.#peakBandwidth = Math.max(this.#peakBandwidth, (segment.data.length * 8) / segment.duration);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new ScopecastError('SC_ERR_INVALID_STATE', `rendition ${this.name} is closed`);
  }
}
