// One stamped source, several RTMP servers: ffmpeg listens for the console's publish and copies
// the same encoded packets (no re-encode) to every server, one RTMP output each.
//
// Why a relay and not the alternatives, for a fair side-by-side run:
//  - one console per server would encode each stream separately (3x the x264 CPU on a 2-core
//    box, and different frames per server);
//  - ffmpeg's tee muxer (one encode, N outputs) opens its outputs without protocol options, so
//    -tcp_nodelay cannot reach them: Nagle + delayed ACKs then added ~30 ms (nms-flv median 51 ->
//    83 ms measured) and more behind a slower receiver;
//  - here every server gets the identical bitstream within microseconds of the others, each over
//    its own TCP_NODELAY connection. The relay hop (loopback RTMP + FLV demux/mux, ~1 ms) is in
//    every path alike.
import { readFile } from 'node:fs/promises';
import { InvalidStateError } from '../lib/errors.js';
import { FfmpegProcess, type FfmpegExit } from '../codecs/ffmpeg/index.js';
import { sleep } from './measure.js';

/** How far audio timestamps are moved ahead of video in the copy (see rtmpFanoutArgs). */
const AUDIO_LEAD_S = 0.3;

/** How long ffmpeg waits for the console to connect, s. Once it has, the console's end ends it. */
const LISTEN_TIMEOUT_S = 30;

/** Pure: listen on inputUrl, copy video + audio to every output as FLV without waiting. */
export function rtmpFanoutArgs(inputUrl: string, outputs: readonly string[]): string[] {
  if (outputs.length === 0) throw new RangeError('rtmp fanout: at least one output');
  for (const url of [inputUrl, ...outputs]) {
    if (!/^rtmp:\/\//.test(url)) throw new RangeError(`rtmp fanout: not an rtmp:// URL: "${url}"`);
  }
  const args = [
    '-hide_banner', '-nostdin', '-loglevel', 'warning',
    // Packets read while probing are passed on, not dropped: servers get the stream from its
    // first keyframe (the console sends codec headers first, so probing ends at once).
    '-probesize', '32768', '-analyzeduration', '0',
    // Give up if no publisher comes (the bench died before starting the console): no orphan.
    '-timeout', String(LISTEN_TIMEOUT_S),
    '-listen', '1', '-i', inputUrl,
  ];
  for (const url of outputs) {
    args.push(
      '-map', '0:v:0', '-map', '0:a:0?', '-c', 'copy',
      // Packets arrive with audio and video timestamps level, so the muxer's interleaving would
      // hold each video frame until the next audio packet (which the console releases only after
      // its next video frame): one frame interval, measured (+33 ms). Audio timestamps shifted
      // ahead keep an audio packet always queued, so video passes at once (audio waits instead).
      '-bsf:a', `setts=ts=TS+${AUDIO_LEAD_S}/TB`,
      // As the console's own output: never hold video waiting for audio, flush every packet.
      '-max_interleave_delta', '100000', '-flush_packets', '1',
      '-flvflags', 'no_duration_filesize', '-tcp_nodelay', '1',
      '-f', 'flv', url,
    );
  }
  return args;
}

/** Pure: whether /proc/net/tcp text has a socket in LISTEN state (0A) on this local port. */
export function tcpListening(procNetTcp: string, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return procNetTcp.split('\n').some((line) => {
    const cols = line.trim().split(/\s+/);
    return cols[1]?.endsWith(`:${hex}`) === true && cols[3] === '0A';
  });
}

/** The relay process. Start it before the console publishes to inputUrl. */
export class RtmpFanout {
  readonly inputUrl: string;
  readonly #outputs: readonly string[];
  #process: FfmpegProcess | null = null;
  #closed = false;

  constructor(inputUrl: string, outputs: readonly string[]) {
    rtmpFanoutArgs(inputUrl, outputs); // validates
    this.inputUrl = inputUrl;
    this.#outputs = outputs;
  }

  /** Spawns ffmpeg; `onDied` hears if it exits on its own (a server refused, the console left). */
  start(onDied: (exit: FfmpegExit) => void): void {
    if (this.#closed) throw new InvalidStateError('rtmp fanout');
    if (this.#process) return;
    const child = new FfmpegProcess({ args: rtmpFanoutArgs(this.inputUrl, this.#outputs), stdout: 'ignore' });
    this.#process = child;
    child.once('died', onDied);
  }

  get pid(): number | undefined {
    return this.#process?.running ? this.#process.pid : undefined;
  }

  /**
   * Resolves once ffmpeg listens. Not by connecting: ffmpeg's RTMP listener takes exactly one
   * connection, and a probe that hangs up would end it. Linux's socket table says it instead
   * (without /proc: a fixed 1 s).
   */
  async listening(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const port = Number(new URL(this.inputUrl).port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const table = await readFile('/proc/net/tcp', 'utf8').catch(() => null);
      if (table === null) return sleep(1000, signal);
      if (tcpListening(table, port)) return;
      signal.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`rtmp fanout: ffmpeg not listening on ${this.inputUrl} after ${timeoutMs} ms`);
      await sleep(20, signal);
    }
  }

  /** Idempotent: ends ffmpeg and resolves once it has exited. */
  async close(): Promise<void> {
    this.#closed = true;
    const child = this.#process;
    this.#process = null;
    await child?.close();
  }
}
