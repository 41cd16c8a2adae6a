// Keeps a low-latency viewer near the playlist's PART-HOLD-BACK: a little faster playback when
// it has fallen behind (startup, a stall), a jump when it is far behind, normal speed otherwise.
// The decision is a pure function; the controller only applies it.
import type { LiveLatency } from './video-controller.js';

export interface CatchUpDecision {
  rate: number;
  /** Seconds to jump forward (0 = none). */
  jump: number;
}

/** Slack before acting, s: below it the viewer is "at target". */
const SLACK = 0.1;
/** Keep at least this much buffered when speeding up or jumping, s. */
const MIN_AHEAD = 0.25;
/** Behind by more than this (start-up, a long stall): jump rather than crawl back at 1.25x, s. */
const JUMP_OVER = 0.8;

export function decideCatchUp(m: LiveLatency): CatchUpDecision {
  const over = m.latency - m.target;
  if (over > JUMP_OVER && m.ahead > MIN_AHEAD + 0.1) {
    return { rate: 1, jump: Math.min(over, m.ahead - MIN_AHEAD) };
  }
  if (over > SLACK && m.ahead > MIN_AHEAD) return { rate: over > 0.4 ? 1.25 : 1.1, jump: 0 };
  return { rate: 1, jump: 0 };
}

export interface CatchUpOptions {
  video: HTMLVideoElement;
  measure: () => LiveLatency | null;
  intervalMs?: number;
}

export class CatchUpController {
  readonly #video: HTMLVideoElement;
  readonly #measure: () => LiveLatency | null;
  readonly #timer: ReturnType<typeof setInterval>;

  constructor(options: CatchUpOptions) {
    this.#video = options.video;
    this.#measure = options.measure;
    this.#timer = setInterval(() => this.#tick(), options.intervalMs ?? 250);
  }

  #tick(): void {
    const video = this.#video;
    if (video.paused || video.seeking) return;
    const m = this.#measure();
    if (!m) return;
    const { rate, jump } = decideCatchUp(m);
    if (jump > 0) video.currentTime += jump;
    if (video.playbackRate !== rate) video.playbackRate = rate;
  }

  destroy(): void {
    clearInterval(this.#timer);
    if (this.#video.playbackRate !== 1) this.#video.playbackRate = 1;
  }
}
