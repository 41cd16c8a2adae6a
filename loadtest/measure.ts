// Pixel-stamp latency measurement for one viewer, shared by the benches (bench-latency: viewers
// one after another; bench: scopecast and the anchors side by side). Every viewer hands decoded
// or presented frames' stamps to a LatencyRecorder; percentiles are steady state (after warm-up),
// start-up is TTFF and the first frame's age.
import { ChromiumViewer } from './chromium-viewer.js';
import { LlHlsClient } from './llhls-client.js';
import { StampReader, type StampReaderInput } from './stamp-reader.js';
import { summarize, type Summary } from './stats.js';
import { WhepClient } from './whep-client.js';

export interface MeasureWindow {
  /** Seconds from the viewer's start that count as start-up, not steady state. */
  warmupS: number;
  /** Steady-state seconds measured after the warm-up. */
  durationS: number;
  /** Ends the measurement early (Ctrl-C): the viewer is closed and what was seen is returned. */
  signal?: AbortSignal;
}

export interface ViewerResult {
  viewer: string;
  latency: Summary;
  ttffMs: number | null;
  firstFrameAgeMs: number | null;
  unreadableFrames: number;
  framesPerSecond: number;
  /** Median latency per second of the run, for spotting start-up and stalls. */
  perSecondMedianMs: number[];
}

/** [time the viewer had the frame (Unix ms), latency ms] for every frame, warm-up included. */
export type LatencySeries = Array<[atMs: number, latencyMs: number]>;

export interface Measurement {
  result: ViewerResult;
  /** When the viewer started (Unix ms): TTFF and the per-second buckets count from here. */
  startedAt: number;
  series: LatencySeries;
}

export function perSecond(samples: LatencySeries, from: number): number[] {
  const buckets: number[][] = [];
  for (const [at, latency] of samples) (buckets[Math.floor((at - from) / 1000)] ??= []).push(latency);
  return Array.from(buckets, (b) => (b ? Math.round(summarize(b).median) : -1));
}

/** Resolves after ms, or at once when the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** One viewer's samples: the steady-state window, the first frame, the whole series. */
export class LatencyRecorder {
  readonly startedAt: number;
  readonly #measureFrom: number;
  readonly #durationS: number;
  readonly #steady: number[] = [];
  readonly #series: LatencySeries = [];
  #first: { at: number; age: number } | null = null;
  /** Frames without a readable stamp (a viewer may also set the total it counted itself). */
  unreadable = 0;

  constructor(window: MeasureWindow, startedAt = Date.now()) {
    this.startedAt = startedAt;
    this.#measureFrom = startedAt + window.warmupS * 1000;
    this.#durationS = window.durationS;
  }

  add(atMs: number, latencyMs: number): void {
    this.#first ??= { at: atMs, age: latencyMs };
    this.#series.push([atMs, latencyMs]);
    if (atMs >= this.#measureFrom) this.#steady.push(latencyMs);
  }

  finish(viewer: string): Measurement {
    const first = this.#first;
    return {
      result: {
        viewer,
        latency: summarize(this.#steady),
        ttffMs: first ? first.at - this.startedAt : null,
        firstFrameAgeMs: first?.age ?? null,
        unreadableFrames: this.unreadable,
        framesPerSecond: this.#steady.length / this.#durationS,
        perSecondMedianMs: perSecond(this.#series, this.startedAt),
      },
      startedAt: this.startedAt,
      series: this.#series,
    };
  }
}

/** A stdin stamp reader (640x360 grey) whose samples and unreadable frames go to the recorder. */
export function recordingReader(format: Extract<StampReaderInput, { kind: 'stdin' }>['format'], recorder: LatencyRecorder): StampReader {
  const reader = new StampReader({ width: 640, height: 360, input: format ? { kind: 'stdin', format } : { kind: 'stdin' } });
  reader.on('unreadable', () => (recorder.unreadable += 1));
  reader.on('sample', (s) => recorder.add(s.decodedAtMs, s.latencyMs));
  reader.start();
  return reader;
}

/**
 * The LL-HLS path without a player's buffer: an LL-HLS client that follows the origin like hls.js
 * (PART-HOLD-BACK behind the edge, then blocking reloads); ffmpeg decodes each part on arrival.
 * `token`: any viewer role for the stream.
 */
export async function measureNodeLlHls(masterUrl: string, window: MeasureWindow, token?: string): Promise<Measurement> {
  const recorder = new LatencyRecorder(window);
  const client = new LlHlsClient(masterUrl, token ? { token } : {});
  const reader = recordingReader(undefined, recorder);
  client.on('init', (data) => reader.stdin?.write(data));
  client.on('part', (part) => reader.stdin?.write(part.data));
  client.on('error', (err) => console.error('LL-HLS client error:', err.message));
  client.start();
  await sleep((window.warmupS + window.durationS) * 1000, window.signal);
  await client.close();
  await reader.close();
  return recorder.finish('LL-HLS client (node, blocking reload) + ffmpeg decode');
}

/** The WHEP path: a werift viewer (token: expert or above); each reassembled access unit is decoded on arrival. */
export async function measureNodeWebRtc(whepUrl: string, window: MeasureWindow, token?: string): Promise<Measurement> {
  const recorder = new LatencyRecorder(window);
  const client = new WhepClient({ interfaceAddress: '127.0.0.1', ...(token ? { token } : {}) });
  const reader = recordingReader('h264', recorder);
  // An access unit delimiter after each frame ends it for ffmpeg's parser at once (otherwise it
  // waits for the next frame's first bytes: one frame interval of added latency).
  const aud = Buffer.from([0, 0, 0, 1, 0x09, 0xf0]);
  client.on('frame', (f) => reader.stdin?.write(Buffer.concat([f.annexB, aud])));
  try {
    await client.connect(whepUrl);
    await sleep((window.warmupS + window.durationS) * 1000, window.signal);
  } finally {
    await client.close();
    await reader.close();
  }
  return recorder.finish('WHEP client (node werift) + ffmpeg decode');
}

/** A real page in headless Chromium; the stamp is read from every presented frame. */
export async function measureChromium(pageUrl: string, selector: string, name: string, window: MeasureWindow, extraArgs: readonly string[] = []): Promise<Measurement> {
  const viewer = new ChromiumViewer();
  await viewer.open(pageUrl, selector, extraArgs);
  const recorder = new LatencyRecorder(window, viewer.openedAt);
  const until = viewer.openedAt + (window.warmupS + window.durationS) * 1000;
  while (Date.now() < until && !window.signal?.aborted) {
    await sleep(500, window.signal);
    const { frames, unreadable } = await viewer.take();
    recorder.unreadable = unreadable;
    for (const f of frames) recorder.add(f.shownAtMs, f.shownAtMs - f.stampMs);
  }
  const errors = viewer.errors;
  await viewer.close();
  if (errors.length) console.error(`chromium page errors: ${errors.slice(0, 3).join(' | ')}`);
  return recorder.finish(name);
}
