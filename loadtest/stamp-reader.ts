// Reads the latency stamps back out of a live stream: ffmpeg decodes the input (an rtmp:// URL,
// optionally listening as the RTMP server itself, or fMP4 / Annex-B H.264 / FLV / MPEG-TS written
// to our stdin) to raw grey frames at a fixed size; every frame is sliced out of stdout and handed
// to the pure stamp reader.

import type { Writable } from 'node:stream';
import { InvalidStateError } from '../lib/errors.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { FfmpegProcess, type FfmpegExit } from '../codecs/ffmpeg/index.js';
import { readStamp } from '../codecs/barcode/index.js';

export interface StampSample {
  /** The time drawn into the frame (Unix ms). */
  stampMs: number;
  /** Date.now() when the frame came out of the decoder. */
  decodedAtMs: number;
  latencyMs: number;
  /** Index of the frame in the decoded output, from 0. */
  frameIndex: number;
}

export type StampReaderInput =
  /** `listen`: ffmpeg itself is the RTMP server on that URL (for tests and loopback benches). */
  | { kind: 'url'; url: string; listen?: boolean }
  /**
   * The caller writes to reader.stdin: fMP4 (init segment, then fragments; the default), Annex-B
   * H.264 (from RTP), FLV (an HTTP-FLV body) or MPEG-TS (HLS segments, back to back).
   */
  | { kind: 'stdin'; format?: 'mp4' | 'h264' | 'flv' | 'mpegts' };

export interface StampReaderOptions {
  /** Size frames are scaled to before reading; the stamp layout is relative, so any size works. */
  width: number;
  height: number;
  input: StampReaderInput;
  ffmpegPath?: string;
}

export interface StampReaderEvents extends Record<string, unknown[]> {
  sample: [sample: StampSample];
  /** A decoded frame without a readable stamp (absent, damaged, or mid-update). */
  unreadable: [frameIndex: number];
  /** ffmpeg exited on its own (input ended, publisher left, bad input). */
  died: [exit: FfmpegExit];
  /** close() finished. Emitted exactly once. */
  closed: [];
}

/** Pure argument builder: low-delay decode of the input to raw grey frames on stdout. */
export function stampReaderArgs(o: StampReaderOptions): string[] {
  if (!Number.isInteger(o.width) || !Number.isInteger(o.height) || o.width < 128 || o.height < 48) {
    throw new RangeError(`stamp reader: size must be integers of at least 128x48, got ${o.width}x${o.height}`);
  }
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'warning'];
  // low_delay: no frame threading in the decoder (it would hold frames back); tiny probe.
  const lowDelay = ['-flags', 'low_delay', '-probesize', '32768', '-analyzeduration', '0'];
  if (o.input.kind === 'url') {
    // nobuffer: what ffmpeg read while probing is dropped, not replayed, so the first samples are
    // not inflated by a probe backlog (the first GOP is lost instead; fine for a live source).
    args.push('-fflags', 'nobuffer', ...lowDelay);
    if (o.input.listen) args.push('-listen', '1');
    args.push('-i', o.input.url);
  } else {
    // fMP4 from a packager: with nobuffer the mov demuxer loses the first second of fragments
    // (measured), so every frame is kept here.
    // Raw H.264 (Annex-B from RTP) has no container: the parser splits access units itself.
    // FLV and MPEG-TS come from the anchors (HTTP-FLV, HLS segments) and are kept whole as well.
    args.push(...lowDelay, '-f', o.input.format ?? 'mp4', '-i', 'pipe:0');
  }
  args.push(
    '-map', '0:v:0', '-an', '-sn', '-dn',
    '-vf', `scale=${o.width}:${o.height}`,
    '-fps_mode', 'passthrough',
    '-f', 'rawvideo', '-pix_fmt', 'gray',
    '-flush_packets', '1',
    'pipe:1',
  );
  return args;
}

export class StampReader extends TypedEmitter<StampReaderEvents> {
  readonly #options: StampReaderOptions;
  readonly #frame: Buffer;
  #filled = 0;
  #frameIndex = 0;
  #process: FfmpegProcess | null = null;
  #started = false;
  #closePromise: Promise<void> | null = null;

  constructor(options: StampReaderOptions) {
    super();
    stampReaderArgs(options); // validates
    this.#options = options;
    this.#frame = Buffer.alloc(options.width * options.height);
  }

  /** Where fMP4 goes for `{ kind: 'stdin' }`; null for URL input or before start(). */
  get stdin(): Writable | null {
    return this.#options.input.kind === 'stdin' ? (this.#process?.stdin ?? null) : null;
  }

  /** pid of the ffmpeg child, while it runs. */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  get framesDecoded(): number {
    return this.#frameIndex;
  }

  start(): void {
    if (this.#closePromise) throw new InvalidStateError('stamp reader');
    if (this.#started) return;
    this.#started = true;
    const child = new FfmpegProcess({
      args: stampReaderArgs(this.#options),
      stdin: this.#options.input.kind === 'stdin' ? 'pipe' : 'ignore',
      stdout: 'pipe',
      ...(this.#options.ffmpegPath ? { path: this.#options.ffmpegPath } : {}),
    });
    this.#process = child;
    child.stdout?.on('data', (chunk: Buffer) => this.#onData(chunk));
    child.once('died', (exit) => this.emit('died', exit));
  }

  #onData(chunk: Buffer): void {
    const frame = this.#frame;
    let offset = 0;
    while (offset < chunk.length) {
      const take = Math.min(frame.length - this.#filled, chunk.length - offset);
      chunk.copy(frame, this.#filled, offset, offset + take);
      this.#filled += take;
      offset += take;
      if (this.#filled === frame.length) {
        this.#filled = 0;
        this.#onFrame(frame);
      }
    }
  }

  #onFrame(frame: Buffer): void {
    const decodedAtMs = Date.now();
    const frameIndex = this.#frameIndex++;
    const stampMs = readStamp(frame, this.#options.width, this.#options.height);
    if (stampMs === null) this.emit('unreadable', frameIndex);
    else this.emit('sample', { stampMs, decodedAtMs, latencyMs: decodedAtMs - stampMs, frameIndex });
  }

  /** Idempotent: ends ffmpeg and resolves once it has exited. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    const child = this.#process;
    this.#process = null;
    this.#closePromise = (child ? child.close() : Promise.resolve()).then(() => {
      this.emit('closed');
      this.removeAllListeners();
    });
    return this.#closePromise;
  }
}
