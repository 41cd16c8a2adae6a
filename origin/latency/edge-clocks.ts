// Each edge's clock offset to this origin (origin minus edge, ms), as the edge measured it over
// its WebSocket. Ingest adds it to the edge's wall-clock stamps, so PROGRAM-DATE-TIME, sender
// reports and every latency figure are on the origin's clock even when the edge's clock is off.

export interface EdgeClock {
  offsetMs: number;
  rttMs: number;
  updatedAt: number;
}

export class EdgeClocks {
  readonly #clocks = new Map<string, EdgeClock>();
  readonly #now: () => number;

  constructor(now: () => number = () => Date.now()) {
    this.#now = now;
  }

  set(edgeId: string, offsetMs: number, rttMs: number): void {
    this.#clocks.set(edgeId, { offsetMs, rttMs, updatedAt: this.#now() });
    if (this.#clocks.size > 10_000) this.#clocks.delete(this.#clocks.keys().next().value as string);
  }

  /** Origin minus edge, ms; 0 for an edge that never reported (same clock assumed). */
  offsetFor(edgeId: string): number {
    return this.#clocks.get(edgeId)?.offsetMs ?? 0;
  }

  get(edgeId: string): EdgeClock | undefined {
    return this.#clocks.get(edgeId);
  }

  entries(): Array<[string, EdgeClock]> {
    return [...this.#clocks.entries()];
  }
}
