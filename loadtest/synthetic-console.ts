// A synthetic surgical console: Node paints raw yuv420p frames, stamps each with Date.now() just
// before handing it to ffmpeg, and ffmpeg publishes H.264 (+ a sine tone) over RTMP. The stamp
// in the pixels is what glass-to-glass latency is measured from, so frames are never queued:
// when ffmpeg is not keeping up a frame is skipped (and counted) rather than sent late.

import { hrtime } from 'node:process';
import type { Writable } from 'node:stream';
import { InvalidStateError } from '../lib/errors.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { FfmpegProcess, type FfmpegExit } from '../codecs/ffmpeg/index.js';
import { drawStamp, stripHeight } from '../codecs/barcode/index.js';

export interface SyntheticConsoleOptions {
  /** Publish URL, e.g. rtmp://127.0.0.1:1935/live/demo */
  url: string;
  /** Frame width, px (even). Default 1920. */
  width?: number;
  /** Frame height, px (even). Default 1080. */
  height?: number;
  /** Frames per second. Default 30. */
  fps?: number;
  /** Add a 440 Hz AAC tone. Default true. */
  audio?: boolean;
  /** Video bitrate, kbit/s. Default 4000. */
  bitrateKbps?: number;
  /** Explicit ffmpeg binary; otherwise FFMPEG_PATH / PATH. */
  ffmpegPath?: string;
}

export type ResolvedConsoleOptions = Required<Omit<SyntheticConsoleOptions, 'ffmpegPath'>>;

export interface SyntheticConsoleEvents extends Record<string, unknown[]> {
  /** ffmpeg is running and the first frame is on its way. */
  started: [];
  /** ffmpeg exited on its own (publish refused, connection lost, bad arguments). */
  died: [exit: FfmpegExit];
  /** close() finished: no child, no timer. Emitted exactly once. */
  closed: [];
}

export function resolveConsoleOptions(o: SyntheticConsoleOptions): ResolvedConsoleOptions {
  const r: ResolvedConsoleOptions = {
    url: o.url,
    width: o.width ?? 1920,
    height: o.height ?? 1080,
    fps: o.fps ?? 30,
    audio: o.audio ?? true,
    bitrateKbps: o.bitrateKbps ?? 4000,
  };
  const problems: string[] = [];
  if (!/^rtmps?:\/\//.test(r.url)) problems.push(`url must be rtmp:// or rtmps://, got "${r.url}"`);
  for (const key of ['width', 'height'] as const) {
    if (!Number.isInteger(r[key]) || r[key] < 128 || r[key] % 2 !== 0) problems.push(`${key} must be an even integer >= 128`);
  }
  if (!Number.isInteger(r.fps) || r.fps < 1 || r.fps > 120) problems.push('fps must be an integer in [1, 120]');
  if (!Number.isInteger(r.bitrateKbps) || r.bitrateKbps < 100) problems.push('bitrateKbps must be an integer >= 100');
  if (problems.length > 0) throw new RangeError(`synthetic console: ${problems.join('; ')}`);
  return r;
}

/** Frames ffmpeg may hold between reading our pipe and encoding; more is queueing, not skipping. */
const VIDEO_THREAD_QUEUE = 4;
/** How far the video timeline is shifted ahead of the audio one (see syntheticConsoleArgs). */
const AUDIO_LEAD_S = 1;

/** A console's H.264: x264 ultrafast zerolatency, 1 s GOP, no B-frames, capped bitrate (shared with the clip console). */
export function consoleVideoEncoderArgs(r: ResolvedConsoleOptions): string[] {
  return [
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency',
    '-g', String(r.fps), '-keyint_min', String(r.fps), '-bf', '0',
    '-b:v', `${r.bitrateKbps}k`, '-maxrate', `${r.bitrateKbps}k`, '-bufsize', `${Math.max(1, Math.round(r.bitrateKbps / 2))}k`,
    '-pix_fmt', 'yuv420p',
  ];
}

/** Pure argument builder: raw frames on stdin (+ live sine) -> x264/AAC -> FLV over RTMP. */
export function syntheticConsoleArgs(o: SyntheticConsoleOptions): string[] {
  const r = resolveConsoleOptions(o);
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    // Input 0: our frames. Timestamps are the wall clock at read time, so a skipped frame leaves a
    // gap instead of pulling the video timeline behind real time. A short thread queue keeps
    // backpressure reaching us (we skip) instead of frames queueing inside ffmpeg.
    '-thread_queue_size', String(VIDEO_THREAD_QUEUE),
    '-fflags', 'nobuffer',
    '-use_wallclock_as_timestamps', '1',
  ];
  if (r.audio) {
    // ffmpeg 5.1 services the output stream with the lowest timestamp first and, when that one's
    // input has nothing ready, waits instead of serving another. A real-time (-re) audio input
    // whose timeline is level with or behind the video therefore gates every video frame behind
    // the AAC encoder delay (~100 ms extra measured). Shifting video earlier keeps video always
    // the lowest, so frames are encoded as soon as they arrive; audio follows up to the video
    // timestamp. The cost is an A/V offset of AUDIO_LEAD_S, irrelevant for a test tone.
    args.push('-itsoffset', String(-AUDIO_LEAD_S));
  }
  args.push(
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${r.width}x${r.height}`, '-framerate', String(r.fps),
    '-i', 'pipe:0',
  );
  if (r.audio) {
    // Input 1: a tone paced in real time (-re applies to this input only).
    args.push('-thread_queue_size', '64', '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  }
  args.push('-map', '0:v:0', ...consoleVideoEncoderArgs(r), '-fps_mode', 'passthrough');
  if (r.audio) args.push('-map', '1:a:0', '-c:a', 'aac', '-b:a', '96k', '-ac', '1');
  args.push(
    // Never hold packets long waiting for the other stream when interleaving.
    '-max_interleave_delta', '100000',
    '-flush_packets', '1',
    '-flvflags', 'no_duration_filesize',
    '-tcp_nodelay', '1',
    '-f', 'flv', r.url,
  );
  return args;
}

// --- the picture -------------------------------------------------------------------------------

function clampByte(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/**
 * Paints the still background once: warm tissue-like radial gradient with colour bars below the
 * stamp strip; the strip itself is neutral grey in chroma so the stamp stays black and white.
 */
function paintBackground(frame: Buffer, width: number, height: number): void {
  const ySize = width * height;
  const cw = width >> 1;
  const ch = height >> 1;
  const strip = stripHeight(height);
  const cx = width / 2;
  const cy = height * 0.55;
  const radius = Math.hypot(width, height) / 2;
  for (let row = 0; row < height; row++) {
    for (let x = 0; x < width; x++) {
      const d = Math.hypot(x - cx, row - cy) / radius;
      frame[row * width + x] = clampByte(190 - 130 * d + 12 * Math.sin(x / 23) * Math.cos(row / 17));
    }
  }
  const bars = [
    [180, 128, 128], [168, 44, 136], [145, 147, 44], [133, 63, 52],
    [63, 193, 204], [51, 109, 212], [28, 212, 120], [110, 128, 128],
  ] as const;
  const barTop = Math.floor(height * 0.12);
  const barBottom = Math.floor(height * 0.24);
  for (let row = barTop; row < barBottom; row++) {
    for (let x = 0; x < width; x++) frame[row * width + x] = bars[Math.floor((x * bars.length) / width)]![0];
  }
  for (let row = 0; row < ch; row++) {
    const y = row * 2;
    for (let x = 0; x < cw; x++) {
      const i = row * cw + x;
      let u: number;
      let v: number;
      if (y < strip + 2) {
        u = 128;
        v = 128;
      } else if (y >= barTop && y < barBottom) {
        const bar = bars[Math.floor((x * 2 * bars.length) / width)]!;
        u = bar[1];
        v = bar[2];
      } else {
        const d = Math.hypot(x * 2 - cx, y - cy) / radius;
        u = clampByte(110 - 20 * d);
        v = clampByte(170 - 30 * d);
      }
      frame[ySize + i] = u;
      frame[ySize + cw * ch + i] = v;
    }
  }
}

/** Moving parts: a bright instrument-like bar sweeping across and a dark box bouncing. */
function paintMotion(frame: Buffer, width: number, height: number, index: number, fps: number): void {
  const strip = stripHeight(height);
  const t = index / fps;
  const barWidth = Math.max(4, Math.floor(width / 40));
  const span = width - barWidth;
  const phase = (t / 4) % 2; // 4 s per sweep, there and back
  const barX = Math.floor((phase < 1 ? phase : 2 - phase) * span);
  const top = Math.floor(height * 0.26);
  for (let row = top; row < height; row++) frame.fill(235, row * width + barX, row * width + barX + barWidth);
  const box = Math.floor(Math.min(width, height) / 6);
  const bx = Math.floor((width - box) * (0.5 + 0.45 * Math.sin(t * 1.3)));
  const by = Math.max(strip + 4, Math.floor(strip + 4 + (height - strip - 4 - box) * (0.5 + 0.5 * Math.cos(t * 0.9))));
  for (let row = by; row < Math.min(height, by + box); row++) frame.fill(40, row * width + bx, row * width + bx + box);
}

// --- the console -------------------------------------------------------------------------------

const NS_PER_S = 1_000_000_000n;

export class SyntheticConsole extends TypedEmitter<SyntheticConsoleEvents> {
  readonly #options: ResolvedConsoleOptions;
  readonly #ffmpegPath: string | undefined;
  readonly #background: Buffer;
  readonly #frame: Buffer;
  readonly #fps: bigint;
  #process: FfmpegProcess | null = null;
  #timer: NodeJS.Timeout | null = null;
  #t0 = 0n;
  #nextIndex = 0;
  #writing = false;
  #framesSent = 0;
  #framesSkipped = 0;
  #started = false;
  #closePromise: Promise<void> | null = null;

  constructor(options: SyntheticConsoleOptions) {
    super();
    this.#options = resolveConsoleOptions(options);
    this.#ffmpegPath = options.ffmpegPath;
    const { width, height, fps } = this.#options;
    const frameBytes = (width * height * 3) / 2;
    this.#background = Buffer.alloc(frameBytes);
    this.#frame = Buffer.alloc(frameBytes);
    paintBackground(this.#background, width, height);
    this.#fps = BigInt(fps);
  }

  get framesSent(): number {
    return this.#framesSent;
  }

  /** Frames that were due while ffmpeg had not taken the previous one (or the loop ran late). */
  get framesSkipped(): number {
    return this.#framesSkipped;
  }

  /** pid of the ffmpeg child, while it runs. */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  start(): void {
    if (this.#closePromise) throw new InvalidStateError('synthetic console');
    if (this.#started) return;
    this.#started = true;
    const child = new FfmpegProcess({
      args: syntheticConsoleArgs(this.#options),
      stdin: 'pipe',
      stdout: 'ignore',
      ...(this.#ffmpegPath ? { path: this.#ffmpegPath } : {}),
    });
    this.#process = child;
    child.once('died', (exit) => {
      this.#stopTimer();
      this.emit('died', exit);
    });
    child.once('spawn', () => {
      if (this.#closePromise) return;
      this.#t0 = hrtime.bigint();
      this.#nextIndex = 0;
      this.emit('started');
      this.#tick();
    });
  }

  #stopTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #tick(): void {
    this.#timer = null;
    const child = this.#process;
    const stdin = child?.stdin;
    if (this.#closePromise || !child?.running || !stdin || stdin.destroyed) return;
    const elapsed = hrtime.bigint() - this.#t0;
    // Frame n is due at t0 + n/fps, computed from t0 every time: no drift accumulates.
    const due = Number((elapsed * this.#fps) / NS_PER_S);
    if (due > this.#nextIndex) {
      // The loop woke late by whole frames: those moments are gone, never sent late.
      this.#framesSkipped += due - this.#nextIndex;
      this.#nextIndex = due;
    }
    if (this.#writing || stdin.writableNeedDrain) {
      this.#framesSkipped += 1;
    } else {
      this.#sendFrame(this.#nextIndex, stdin);
    }
    this.#nextIndex += 1;
    const wait = this.#t0 + (BigInt(this.#nextIndex) * NS_PER_S + this.#fps - 1n) / this.#fps - hrtime.bigint();
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, Math.ceil(Number(wait) / 1e6)));
  }

  #sendFrame(index: number, stdin: Writable): void {
    const { width, height, fps } = this.#options;
    this.#background.copy(this.#frame);
    paintMotion(this.#frame, width, height, index, fps);
    drawStamp(this.#frame, width, height, Date.now());
    // One frame buffer, reused: it is repainted only after this write has been handed to the OS.
    this.#writing = true;
    stdin.write(this.#frame, () => {
      this.#writing = false;
    });
    this.#framesSent += 1;
  }

  /** Idempotent: stops the timer, ends ffmpeg, resolves once the child has exited. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#stopTimer();
    const child = this.#process;
    this.#process = null;
    this.#closePromise = (child ? child.close() : Promise.resolve()).then(() => {
      this.emit('closed');
      this.removeAllListeners();
    });
    return this.#closePromise;
  }
}
