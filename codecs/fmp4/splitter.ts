import { fourcc, parseError } from './boxes.js';

export type Fmp4Unit = { kind: 'init'; data: Buffer } | { kind: 'fragment'; data: Buffer };

export interface Fmp4SplitterOptions {
  /** Largest top-level box accepted, in bytes. Default 16 MiB. */
  maxBoxBytes?: number;
}

const DEFAULT_MAX_BOX_BYTES = 16 * 1024 * 1024;
/** Boxes that may precede a moof and belong to its fragment, including the first one. */
const FRAGMENT_PREAMBLE = new Set(['styp', 'sidx', 'ssix', 'prft', 'emsg']);

/**
 * Streaming splitter for ffmpeg's `-f mp4 -movflags +frag_keyframe+empty_moov+default_base_moof`
 * stdout. Pure and synchronous: chunks in, whole units out.
 *
 * - init: every box before the first moof (ftyp, moov, maybe free), except that a styp, sidx,
 *   ssix, prft or emsg after the moov already opens the first fragment (ffmpeg's -write_prft puts
 *   a prft right after the moov).
 * - fragment: the boxes after the previous mdat (styp, sidx, prft, emsg...), then a moof and the
 *   mdat that follows it. One unit per moof/mdat pair.
 *
 * Pushed chunks are kept by reference until their bytes are emitted (emitted units are fresh
 * copies), so callers must not reuse a chunk's memory after pushing it. Boxes after the last
 * mdat (ffmpeg's closing mfra) stay pending and are never emitted.
 */
export class Fmp4Splitter {
  readonly #maxBoxBytes: number;
  /** Received bytes not yet assigned to a unit: #chunks[#head] from #headOffset onwards. */
  #chunks: Buffer[] = [];
  #head = 0;
  #headOffset = 0;
  #queued = 0;
  /** Whole boxes collected for the unit being built. */
  #unit: Buffer[] = [];
  #unitBytes = 0;
  /** Size and type of the box at the front of the queue, once its header has arrived. */
  #next: { size: number; type: string } | null = null;
  #streamOffset = 0;
  #sawMoov = false;
  #initEmitted = false;
  #moofOpen = false;
  #failure: string | null = null;

  constructor(options: Fmp4SplitterOptions = {}) {
    const max = options.maxBoxBytes ?? DEFAULT_MAX_BOX_BYTES;
    if (!Number.isSafeInteger(max) || max < 8) throw new RangeError(`maxBoxBytes must be an integer >= 8, got ${max}`);
    this.#maxBoxBytes = max;
  }

  /** Bytes buffered but not yet emitted. */
  get pendingBytes(): number {
    return this.#queued + this.#unitBytes;
  }

  /**
   * Feed any-size chunks; returns the complete units now available, in order. Throws
   * SC_ERR_FMP4_PARSE on a malformed stream; the splitter then stays failed.
   */
  push(chunk: Buffer): Fmp4Unit[] {
    if (this.#failure !== null) throw parseError(`splitter failed earlier: ${this.#failure}`);
    if (chunk.length > 0) {
      this.#chunks.push(chunk);
      this.#queued += chunk.length;
    }
    const units: Fmp4Unit[] = [];
    try {
      for (;;) {
        const next = this.#next ?? this.#readHeader();
        if (next === null || this.#queued < next.size) break;
        this.#next = null;
        this.#takeBox(next, units);
      }
    } catch (error) {
      this.#failure = error instanceof Error ? error.message : String(error);
      this.#chunks = [];
      this.#head = 0;
      this.#headOffset = 0;
      this.#queued = 0;
      this.#unit = [];
      this.#unitBytes = 0;
      throw error;
    }
    return units;
  }

  /** Parses and validates the header at the front of the queue, or returns null if it is incomplete. */
  #readHeader(): { size: number; type: string } | null {
    if (this.#queued < 8) return null;
    const first = this.#peek(8);
    const size32 = first.readUInt32BE(0);
    const type = fourcc(first, 4);
    const at = `box '${type}' at stream offset ${this.#streamOffset}`;
    for (let i = 4; i < 8; i++) {
      const c = first[i] ?? 0;
      if (c < 0x20 || c > 0x7e) throw parseError(`${at}: type is not a printable four-character code (garbage or lost sync)`);
    }
    let size = size32;
    if (size32 === 0) throw parseError(`${at}: size 0 (box runs to end of file) is not allowed in a stream`);
    if (size32 === 1) {
      if (this.#queued < 16) return null;
      const long = this.#peek(16);
      const hi = long.readUInt32BE(8);
      const lo = long.readUInt32BE(12);
      size = hi * 0x1_0000_0000 + lo;
      if (size > this.#maxBoxBytes) throw parseError(`${at}: largesize ${size} exceeds maxBoxBytes ${this.#maxBoxBytes}`);
      if (size < 16) throw parseError(`${at}: largesize ${size} is smaller than its 16-byte header`);
    } else if (size32 < 8) {
      throw parseError(`${at}: size ${size32} is smaller than a box header`);
    } else if (size32 > this.#maxBoxBytes) {
      throw parseError(`${at}: size ${size32} exceeds maxBoxBytes ${this.#maxBoxBytes}`);
    }
    const next = { size, type };
    this.#next = next;
    return next;
  }

  /** Copies the first n queued bytes (n <= 16) without consuming them. */
  #peek(n: number): Buffer {
    const out = Buffer.alloc(n);
    let filled = 0;
    let offset = this.#headOffset;
    for (let i = this.#head; filled < n; i++) {
      const chunk = this.#chunks[i];
      if (!chunk) break;
      filled += chunk.copy(out, filled, offset, Math.min(chunk.length, offset + n - filled));
      offset = 0;
    }
    return out;
  }

  /** Moves the next `size` queued bytes into the current unit as zero-copy slices. */
  #consume(size: number): void {
    let left = size;
    while (left > 0) {
      const chunk = this.#chunks[this.#head];
      if (!chunk) throw new Error('Fmp4Splitter: queue accounting is broken');
      const available = chunk.length - this.#headOffset;
      if (available <= left) {
        this.#unit.push(this.#headOffset === 0 ? chunk : chunk.subarray(this.#headOffset));
        left -= available;
        this.#head += 1;
        this.#headOffset = 0;
      } else {
        this.#unit.push(chunk.subarray(this.#headOffset, this.#headOffset + left));
        this.#headOffset += left;
        left = 0;
      }
    }
    this.#queued -= size;
    this.#unitBytes += size;
    this.#streamOffset += size;
    if (this.#head > 64 && this.#head * 2 > this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#head);
      this.#head = 0;
    }
  }

  #emit(kind: Fmp4Unit['kind'], units: Fmp4Unit[]): void {
    units.push({ kind, data: Buffer.concat(this.#unit, this.#unitBytes) });
    this.#unit = [];
    this.#unitBytes = 0;
  }

  #takeBox(box: { size: number; type: string }, units: Fmp4Unit[]): void {
    const at = `box '${box.type}' at stream offset ${this.#streamOffset}`;
    if (!this.#initEmitted) {
      if (box.type === 'moof' || (FRAGMENT_PREAMBLE.has(box.type) && this.#sawMoov)) {
        // The init segment is complete once the first fragment-level box arrives.
        if (!this.#sawMoov) throw parseError(`${at}: moof before any moov (init segment missing)`);
        this.#emit('init', units);
        this.#initEmitted = true;
        this.#moofOpen = box.type === 'moof';
      } else if (box.type === 'mdat') {
        throw parseError(`${at}: mdat before the first moof (not a fragmented MP4 stream?)`);
      } else if (box.type === 'moov') {
        this.#sawMoov = true;
      }
      this.#consume(box.size);
      return;
    }
    switch (box.type) {
      case 'moof':
        if (this.#moofOpen) throw parseError(`${at}: moof follows a moof without an mdat between them`);
        this.#moofOpen = true;
        this.#consume(box.size);
        return;
      case 'mdat':
        if (!this.#moofOpen) throw parseError(`${at}: mdat without a preceding moof`);
        this.#moofOpen = false;
        this.#consume(box.size);
        this.#emit('fragment', units);
        return;
      case 'moov':
        throw parseError(`${at}: moov after the first fragment (a new init segment mid-stream is not supported)`);
      default:
        this.#consume(box.size);
    }
  }
}
