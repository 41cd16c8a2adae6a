// NTP-style clock sync against the origin, the same on edge, origin tooling and browsers (no Node
// or DOM imports). One round trip (t0 local send, t1 server receive, t2 server send, t3 local
// receive) bounds the true offset: one-way delays are >= 0, so t2 - t3 <= offset <= t1 - t0.
// The estimate is the middle of the intersection of those bounds over recent round trips: it
// tightens with the quickest trip in EACH direction, not just the quickest round trip. If the
// bounds disagree (the clock stepped, or a route changed), the fastest round trips decide.

export interface ClockSample {
  /** Server clock minus local clock, ms (this round trip's own estimate). */
  offsetMs: number;
  rttMs: number;
  /** The offset is at least t2 - t3 and at most t1 - t0. */
  lowMs: number;
  highMs: number;
  /** Local time the sample completed, ms. */
  at: number;
}

/** t0 = local send, t1 = server receive, t2 = server send, t3 = local receive (ms). */
export function clockSample(t0: number, t1: number, t2: number, t3: number): ClockSample | null {
  const rttMs = t3 - t0 - (t2 - t1);
  if (![t0, t1, t2, t3].every(Number.isFinite) || rttMs < 0 || t2 < t1) return null;
  return { offsetMs: (t1 - t0 + (t2 - t3)) / 2, rttMs, lowMs: t2 - t3, highMs: t1 - t0, at: t3 };
}

export interface ClockEstimatorOptions {
  /** Recent samples kept; older ones fall out so drift is followed. */
  window?: number;
  /** The fastest this many samples are averaged. */
  best?: number;
}

export class ClockEstimator {
  readonly #window: number;
  readonly #best: number;
  readonly #samples: ClockSample[] = [];

  constructor(options: ClockEstimatorOptions = {}) {
    this.#window = options.window ?? 16;
    this.#best = options.best ?? 3;
  }

  add(sample: ClockSample): void {
    this.#samples.push(sample);
    if (this.#samples.length > this.#window) this.#samples.shift();
  }

  get samples(): number {
    return this.#samples.length;
  }

  /** Server minus local, ms; null before the first sample. */
  get offsetMs(): number | null {
    if (this.#samples.length === 0) return null;
    const low = Math.max(...this.#samples.map((s) => s.lowMs));
    const high = Math.min(...this.#samples.map((s) => s.highMs));
    if (low <= high) return (low + high) / 2;
    const best = this.#fastest();
    return best.reduce((sum, s) => sum + s.offsetMs, 0) / best.length;
  }

  /** Round trip of the fastest recent sample, ms. */
  get rttMs(): number | null {
    return this.#fastest()[0]?.rttMs ?? null;
  }

  #fastest(): ClockSample[] {
    return [...this.#samples].sort((a, b) => a.rttMs - b.rttMs).slice(0, this.#best);
  }
}

/** Wire messages of the clock exchange (JSON over the WebSocket). */
export interface ClockPing {
  type: 'ping';
  id: number;
  t0: number;
}

export interface ClockPong {
  type: 'pong';
  id: number;
  t0: number;
  t1: number;
  t2: number;
}

export interface ClockSyncOptions {
  /** Puts a ping on the wire; may throw when the link is down (the ping is then skipped). */
  send: (ping: ClockPing) => void;
  /** Local clock, ms. */
  now?: () => number;
  /** Pings in the first burst, and their spacing, ms. */
  burst?: number;
  burstGapMs?: number;
  /** One ping this often after the burst, ms: follows drift and route changes. */
  intervalMs?: number;
  /** Told after each estimate update. */
  onUpdate?: (offsetMs: number, rttMs: number) => void;
}

/** Drives the exchange: a burst of pings, then one now and then; answers come to onPong(). */
export class ClockSync {
  readonly #options: Required<Omit<ClockSyncOptions, 'onUpdate'>> & Pick<ClockSyncOptions, 'onUpdate'>;
  readonly #estimator = new ClockEstimator();
  readonly #pending = new Map<number, number>();
  #nextId = 1;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #sentInBurst = 0;
  #destroyed = false;

  constructor(options: ClockSyncOptions) {
    this.#options = { now: () => Date.now(), burst: 16, burstGapMs: 50, intervalMs: 10_000, ...options };
  }

  /** (Re)start with a burst: call when the link (re)connects. */
  start(): void {
    if (this.#destroyed) return;
    this.#clearTimer();
    this.#pending.clear();
    this.#sentInBurst = 0;
    this.#tick();
  }

  /** Stop pinging (link down); the estimate is kept. */
  pause(): void {
    this.#clearTimer();
    this.#pending.clear();
  }

  onPong(pong: ClockPong): void {
    const t3 = this.#options.now();
    const t0 = this.#pending.get(pong.id);
    if (t0 === undefined || t0 !== pong.t0) return; // not ours, or answered twice
    this.#pending.delete(pong.id);
    const sample = clockSample(t0, pong.t1, pong.t2, t3);
    if (!sample) return;
    this.#estimator.add(sample);
    const offset = this.#estimator.offsetMs;
    const rtt = this.#estimator.rttMs;
    if (offset !== null && rtt !== null) this.#options.onUpdate?.(offset, rtt);
  }

  /** Server minus local, ms (0 until the first answer). */
  get offsetMs(): number {
    return this.#estimator.offsetMs ?? 0;
  }

  get rttMs(): number | null {
    return this.#estimator.rttMs;
  }

  get synced(): boolean {
    return this.#estimator.samples > 0;
  }

  /** The origin's clock as best known here, ms. */
  now(): number {
    return this.#options.now() + this.offsetMs;
  }

  destroy(): void {
    this.#destroyed = true;
    this.#clearTimer();
    this.#pending.clear();
  }

  #tick(): void {
    this.#timer = null;
    if (this.#destroyed) return;
    const id = this.#nextId++;
    const t0 = this.#options.now();
    try {
      this.#options.send({ type: 'ping', id, t0 });
      this.#pending.set(id, t0);
      // Unanswered pings (lost on a reconnect) must not pile up.
      if (this.#pending.size > 32) this.#pending.delete(this.#pending.keys().next().value as number);
    } catch {
      // link down: the next tick or start() tries again
    }
    const inBurst = this.#sentInBurst < this.#options.burst - 1;
    this.#sentInBurst += 1;
    this.#timer = setTimeout(() => this.#tick(), inBurst ? this.#options.burstGapMs : this.#options.intervalMs);
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }
}
