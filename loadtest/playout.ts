// Turns decoded frames into what a viewer would see: a player that starts at a target media time
// and plays in real time from the first frame it shows, stalling (and falling further behind)
// when a frame has not been decoded by its display time. Pure: frames in, display times out.

export interface DecodedFrame {
  /** Media time of the frame, s (from the first fetched part). */
  mediaTime: number;
  decodedAtMs: number;
  stampMs: number;
}

export interface PlayoutResult {
  /** Display time minus stamp per shown frame (glass-to-glass as a viewer sees it). */
  latenciesMs: number[];
  firstShownAtMs: number | null;
  firstShownLatencyMs: number | null;
  stalls: number;
  stalledMs: number;
  skippedBeforeTarget: number;
}

export class PlayoutClock {
  readonly #targetMediaTime: number;
  #anchorWall: number | null = null;
  #anchorMedia = 0;
  readonly result: PlayoutResult = {
    latenciesMs: [],
    firstShownAtMs: null,
    firstShownLatencyMs: null,
    stalls: 0,
    stalledMs: 0,
    skippedBeforeTarget: 0,
  };

  constructor(targetMediaTime: number) {
    this.#targetMediaTime = targetMediaTime;
  }

  /** Returns the frame's display time, or null if it precedes the start position. */
  push(frame: DecodedFrame): number | null {
    // Half a frame of tolerance: the target rarely falls exactly on a frame boundary.
    if (this.#anchorWall === null && frame.mediaTime + 0.017 < this.#targetMediaTime) {
      this.result.skippedBeforeTarget += 1;
      return null;
    }
    if (this.#anchorWall === null) {
      this.#anchorWall = frame.decodedAtMs;
      this.#anchorMedia = frame.mediaTime;
      this.result.firstShownAtMs = frame.decodedAtMs;
      this.result.firstShownLatencyMs = frame.decodedAtMs - frame.stampMs;
    }
    let due = this.#anchorWall + (frame.mediaTime - this.#anchorMedia) * 1000;
    if (frame.decodedAtMs > due + 1) {
      // Not decoded in time: the picture freezes until it is, and stays that much later.
      this.result.stalls += 1;
      this.result.stalledMs += frame.decodedAtMs - due;
      this.#anchorWall += frame.decodedAtMs - due;
      due = frame.decodedAtMs;
    }
    this.result.latenciesMs.push(due - frame.stampMs);
    return due;
  }
}
