// The LL-HLS timeline of one rendition: parts grouped into segments, a sliding window, init
// generations. Pure state: no timers, no I/O. The HLS plugin reads snapshots of it; waiting
// for new parts lives in rendition.ts.

export interface Part {
  /** Global part sequence number: part URIs use it, so a preload hint stays valid across segment boundaries. */
  seq: number;
  msn: number;
  /** Index of this part within its segment. */
  index: number;
  duration: number;
  independent: boolean;
  /** Edge ingest wall clock of the part's first frame, Unix ms (prft). */
  wallClockMs: number | undefined;
  data: Buffer;
}

export interface Segment {
  msn: number;
  parts: Part[];
  /** Sum of part durations, s. */
  duration: number;
  /** Init generation this segment belongs to; a change is an EXT-X-DISCONTINUITY. */
  generation: number;
  discontinuity: boolean;
  complete: boolean;
  /** Segment bytes (parts concatenated), built when the segment completes. */
  data: Buffer | null;
}

export interface PartInput {
  data: Buffer;
  duration: number;
  independent: boolean;
  wallClockMs: number | undefined;
}

export interface PartStoreOptions {
  /** Complete segments kept in the window. */
  windowSegments: number;
  /** Called synchronously when a segment completes (its data is set), before the window trims. */
  onSegmentComplete?: (segment: Segment) => void;
}

export class PartStore {
  readonly #windowSegments: number;
  readonly #onSegmentComplete: ((segment: Segment) => void) | undefined;
  readonly #segments: Segment[] = [];
  #nextMsn = 0;
  #nextPartSeq = 0;
  #generation = -1;
  #discontinuitySequence = 0;
  #ended = false;
  #maxSegmentDuration = 0;
  #maxPartDuration = 0;

  constructor(options: PartStoreOptions) {
    this.#windowSegments = options.windowSegments;
    this.#onSegmentComplete = options.onSegmentComplete;
  }

  /** A new init segment: the next part starts a new segment after a discontinuity. */
  newGeneration(): number {
    this.#closeOpenSegment();
    this.#generation += 1;
    return this.#generation;
  }

  get generation(): number {
    return this.#generation;
  }

  /**
   * Add one CMAF fragment as a part. A fragment that starts with a keyframe starts a new
   * segment (one GOP per segment).
   */
  addPart(input: PartInput): Part {
    if (this.#generation < 0) throw new Error('addPart before newGeneration');
    if (this.#ended) throw new Error('addPart after end');
    let open = this.#openSegment();
    if (open && input.independent && open.parts.length > 0) {
      this.#closeOpenSegment();
      open = undefined;
    }
    if (!open) {
      const previous = this.#segments.at(-1);
      const discontinuity = previous !== undefined && previous.generation !== this.#generation;
      open = {
        msn: this.#nextMsn++,
        parts: [],
        duration: 0,
        generation: this.#generation,
        discontinuity,
        complete: false,
        data: null,
      };
      this.#segments.push(open);
    }
    const part: Part = {
      seq: this.#nextPartSeq++,
      msn: open.msn,
      index: open.parts.length,
      duration: input.duration,
      independent: input.independent,
      wallClockMs: input.wallClockMs,
      data: input.data,
    };
    open.parts.push(part);
    open.duration += input.duration;
    this.#maxPartDuration = Math.max(this.#maxPartDuration, input.duration);
    return part;
  }

  /** The stream ended: the open segment completes, the playlist gets EXT-X-ENDLIST. */
  end(): void {
    if (this.#ended) return;
    this.#closeOpenSegment();
    this.#ended = true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  get segments(): readonly Segment[] {
    return this.#segments;
  }

  get discontinuitySequence(): number {
    return this.#discontinuitySequence;
  }

  get maxSegmentDuration(): number {
    return this.#maxSegmentDuration;
  }

  get maxPartDuration(): number {
    return this.#maxPartDuration;
  }

  /** msn of the segment currently growing (or the next one to start). */
  get liveEdgeMsn(): number {
    return this.#openSegment()?.msn ?? this.#nextMsn;
  }

  /** Parts in the open segment. */
  get livePartCount(): number {
    return this.#openSegment()?.parts.length ?? 0;
  }

  get nextPartSeq(): number {
    return this.#nextPartSeq;
  }

  get firstMsn(): number {
    return this.#segments[0]?.msn ?? this.#nextMsn;
  }

  /**
   * Has the playlist reached what a blocking request asks for? (RFC 8216bis 6.2.5.2)
   * msn alone: segment msn is complete. msn + part: that part exists, or the segment completed
   * with fewer parts (the next segment has begun).
   */
  satisfies(msn: number, part: number | undefined): boolean {
    if (this.#ended) return true;
    const edge = this.liveEdgeMsn;
    if (part === undefined) return msn < edge;
    if (msn < edge) return true;
    return msn === edge && part < this.livePartCount;
  }

  segment(msn: number): Segment | undefined {
    const first = this.#segments[0];
    if (!first) return undefined;
    return this.#segments[msn - first.msn];
  }

  part(seq: number): Part | undefined {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const segment = this.#segments[i]!;
      const first = segment.parts[0];
      if (first && seq >= first.seq) return segment.parts[seq - first.seq];
    }
    return undefined;
  }

  #openSegment(): Segment | undefined {
    const last = this.#segments.at(-1);
    return last && !last.complete ? last : undefined;
  }

  #closeOpenSegment(): void {
    const open = this.#openSegment();
    if (!open) return;
    if (open.parts.length === 0) {
      this.#segments.pop();
      this.#nextMsn -= 1;
      return;
    }
    open.complete = true;
    open.data = Buffer.concat(open.parts.map((p) => p.data));
    this.#maxSegmentDuration = Math.max(this.#maxSegmentDuration, open.duration);
    this.#onSegmentComplete?.(open);
    this.#trim();
  }

  #trim(): void {
    // Keep windowSegments complete segments plus the open one.
    const complete = this.#segments.filter((s) => s.complete).length;
    let drop = complete - this.#windowSegments;
    while (drop-- > 0) {
      const gone = this.#segments.shift();
      if (gone?.discontinuity) this.#discontinuitySequence += 1;
    }
  }
}
