// A console that costs (almost) no CPU: a short clip encoded once at start, then published in a
// loop with `-c copy` at its real rate. For the viewer load test, where the console is a stand-in
// for hardware at the county hospital: the live SyntheticConsole paints and encodes every frame
// (~20 % of a core), which on the one test box is taken from the origin being measured. The clip
// carries no latency barcode; the load test measures from the edge's ingest clock, not pixels.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidStateError } from '../lib/errors.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { consoleVideoEncoderArgs, resolveConsoleOptions, type ResolvedConsoleOptions, type SyntheticConsoleEvents, type SyntheticConsoleOptions } from './synthetic-console.js';

/** The looped clip's default length, s. */
export const DEFAULT_CLIP_SECONDS = 10;

export interface ClipConsoleOptions extends SyntheticConsoleOptions {
  /** Length of the looped clip, s (whole GOPs of 1 s). Default DEFAULT_CLIP_SECONDS. */
  clipSeconds?: number;
}

/**
 * Pure: encode the clip. A moving test pattern (and a tone) with the live console's encoder
 * settings: x264 ultrafast, 1 s GOP, no B-frames, the same bitrate, AAC.
 */
export function clipRecordArgs(o: ResolvedConsoleOptions, seconds: number, file: string): string[] {
  const args = ['-hide_banner', '-nostdin', '-loglevel', 'error', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`];
  if (o.audio) args.push('-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000');
  args.push('-map', '0:v:0', ...consoleVideoEncoderArgs(o));
  if (o.audio) args.push('-map', '1:a:0', '-c:a', 'aac', '-b:a', '96k', '-ac', '1');
  args.push('-t', String(seconds), '-y', '-f', 'flv', file);
  return args;
}

/** Pure: publish the clip in a loop, paced at its own rate, without re-encoding. */
export function clipLoopArgs(file: string, url: string): string[] {
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    '-re', '-stream_loop', '-1', '-i', file,
    '-map', '0', '-c', 'copy',
    '-flvflags', 'no_duration_filesize', '-tcp_nodelay', '1',
    '-f', 'flv', url,
  ];
}

export class ClipConsole extends TypedEmitter<SyntheticConsoleEvents> {
  readonly #options: ResolvedConsoleOptions;
  readonly #seconds: number;
  readonly #ffmpegPath: string | undefined;
  #process: FfmpegProcess | null = null;
  #dir: string | null = null;
  #started: Promise<void> | null = null;
  #closePromise: Promise<void> | null = null;

  constructor(options: ClipConsoleOptions) {
    super();
    this.#options = resolveConsoleOptions(options);
    this.#seconds = options.clipSeconds ?? DEFAULT_CLIP_SECONDS;
    if (!Number.isInteger(this.#seconds) || this.#seconds < 1 || this.#seconds > 600) throw new RangeError('clip console: clipSeconds must be an integer in [1, 600]');
    this.#ffmpegPath = options.ffmpegPath;
  }

  /** pid of the publishing ffmpeg, while it runs. */
  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  /** Encode the clip, then publish it in a loop. Rejects if the clip cannot be made. */
  start(): Promise<void> {
    if (this.#closePromise) return Promise.reject(new InvalidStateError('clip console'));
    this.#started ??= this.#start();
    return this.#started;
  }

  async #start(): Promise<void> {
    this.#dir = await mkdtemp(join(tmpdir(), 'scopecast-clip-'));
    const file = join(this.#dir, 'clip.flv');
    const path = this.#ffmpegPath ? { path: this.#ffmpegPath } : {};
    const recorder = new FfmpegProcess({ args: clipRecordArgs(this.#options, this.#seconds, file), ...path });
    this.#process = recorder;
    const made = await recorder.exited();
    if (this.#closePromise) return;
    if (made.code !== 0) throw new Error(`clip console: encoding the clip failed: ${made.stderrTail || `code ${made.code}`}`);
    const publisher = new FfmpegProcess({ args: clipLoopArgs(file, this.#options.url), ...path });
    this.#process = publisher;
    publisher.once('died', (exit) => this.emit('died', exit));
    publisher.once('spawn', () => this.emit('started'));
  }

  /** Idempotent: ends ffmpeg (recording or publishing), removes the clip, resolves when done. */
  close(): Promise<void> {
    this.#closePromise ??= (async () => {
      await this.#process?.close();
      await this.#started?.catch(() => undefined);
      await this.#process?.close();
      this.#process = null;
      if (this.#dir) await rm(this.#dir, { recursive: true, force: true });
      this.emit('closed');
      this.removeAllListeners();
    })();
    return this.#closePromise;
  }
}
