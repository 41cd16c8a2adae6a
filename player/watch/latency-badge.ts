// Glass-to-glass latency: wall clock now minus the PROGRAM-DATE-TIME of the frame on screen.
// The clock is injectable (setClock) so a server-synchronised clock can replace Date.now later.
import type { Bus } from './bus.js';
import type { WatchEvents } from './types.js';

export type LatencyLevel = 'unknown' | 'good' | 'warn' | 'bad';

export interface LatencyThresholds {
  /** Below this: good (green). */
  goodBelowMs: number;
  /** Below this: warn (amber); at or above: bad (red). */
  warnBelowMs: number;
}

export const DEFAULT_THRESHOLDS: LatencyThresholds = { goodBelowMs: 1500, warnBelowMs: 3000 };

export function measureLatency(playingDate: Date | null, nowMs: number): number | null {
  if (!playingDate) return null;
  const pdt = playingDate.getTime();
  if (!Number.isFinite(pdt)) return null;
  return Math.round(nowMs - pdt);
}

export function latencyLevel(ms: number | null, thresholds: LatencyThresholds = DEFAULT_THRESHOLDS): LatencyLevel {
  if (ms === null) return 'unknown';
  if (ms < thresholds.goodBelowMs) return 'good';
  if (ms < thresholds.warnBelowMs) return 'warn';
  return 'bad';
}

export function formatLatency(ms: number | null): string {
  return ms === null ? '—' : `${ms} ms`;
}

export interface LatencyBadgeOptions {
  element: HTMLElement;
  bus: Bus<WatchEvents>;
  /** PROGRAM-DATE-TIME of the frame being shown (hls.playingDate). */
  playingDate?: () => Date | null;
  /**
   * Another source of the measurement, given this badge's clock (e.g. WebRTC frame metadata on the
   * expert page). Replaces the PROGRAM-DATE-TIME measurement when set.
   */
  measure?: (nowMs: number) => number | null;
  now?: () => number;
  intervalMs?: number;
  thresholds?: LatencyThresholds;
}

export class LatencyBadge {
  readonly #element: HTMLElement;
  readonly #bus: Bus<WatchEvents>;
  readonly #measure: (nowMs: number) => number | null;
  readonly #thresholds: LatencyThresholds;
  readonly #timer: ReturnType<typeof setInterval>;
  #now: () => number;
  #last: number | null | undefined = undefined;
  #destroyed = false;

  constructor(options: LatencyBadgeOptions) {
    this.#element = options.element;
    this.#bus = options.bus;
    const playingDate = options.playingDate ?? (() => null);
    this.#measure = options.measure ?? ((nowMs) => measureLatency(playingDate(), nowMs));
    this.#now = options.now ?? (() => Date.now());
    this.#thresholds = options.thresholds ?? DEFAULT_THRESHOLDS;
    this.#timer = setInterval(() => this.tick(), options.intervalMs ?? 250);
    this.#render(null);
  }

  /** The clock this badge measures against. */
  now(): number {
    return this.#now();
  }

  /** Swap the clock source (e.g. once clock sync with the origin is established). */
  setClock(now: () => number): void {
    this.#now = now;
  }

  /** One measurement; called by the interval, callable directly by tests. */
  tick(): number | null {
    if (this.#destroyed) return null;
    const ms = this.#measure(this.#now());
    this.#render(ms);
    if (ms !== this.#last) {
      this.#last = ms;
      this.#bus.emit('latency', ms);
    }
    return ms;
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    clearInterval(this.#timer);
  }

  #render(ms: number | null): void {
    this.#element.textContent = formatLatency(ms);
    this.#element.dataset.level = latencyLevel(ms, this.#thresholds);
  }
}
