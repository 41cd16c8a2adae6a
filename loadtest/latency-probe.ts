// Ground truth for the timing contract (DESIGN.md): a headless low-latency LL-HLS viewer that
// decodes every frame with ffmpeg and puts two clocks side by side for each one:
//  - the pixel stamp: the synthetic console's send time, read from the decoded picture;
//  - the metadata clock: the edge's ingest wall clock of that frame, i.e. its fragment's prft
//    plus the frame's presentation-time offset from the prft's media time (the first frame).
// Frames are matched by decode order: the decoder (no B-frames, passthrough) returns exactly one
// frame per video sample fed, in order; close() drains it and checks the counts to prove that.
import { parseFragment, parseInit, type FragmentInfo, type InitInfo } from '../codecs/fmp4/index.js';
import { InvalidStateError } from '../lib/errors.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { LlHlsClient } from './llhls-client.js';
import { StampReader, type StampSample } from './stamp-reader.js';

/** The metadata clock of one video sample. */
export interface FrameClock {
  /** Presentation time (decode time + composition offset), track timescale. */
  pts: number;
  /** Edge ingest wall clock, Unix ms; undefined when the fragment has no prft for the video track. */
  ingestWallClockMs: number | undefined;
}

/**
 * Pure: the metadata clock of every video sample of one fragment, in decode order. The prft pairs
 * a wall clock with a media time of the video track (ffmpeg: the encoder-input time of the
 * fragment's first frame, and that frame's pts); a frame's clock is that instant plus its
 * presentation-time distance from media_time (the edge encodes constant frame rate).
 * media_time, not the first sample's pts, is the anchor: they are equal except in a track's first
 * fragment, where ffmpeg moves the first sample to 0 and lengthens it (test/fixtures/av.cmaf) —
 * then only that one stretched sample reads early, by the stretch.
 */
export function frameClocks(info: FragmentInfo, init: InitInfo): FrameClock[] {
  const track = init.videoTrack;
  const samples = info.video?.samples;
  if (!track || !samples) return [];
  const prft = info.prft?.trackId === track.id ? info.prft : undefined;
  return samples.map((s) => {
    const pts = s.decodeTime + s.compositionOffset;
    return { pts, ingestWallClockMs: prft ? prft.wallClockMs + ((pts - prft.mediaTime) * 1000) / track.timescale : undefined };
  });
}

/** One decoded frame with both clocks. */
export interface ProbeFrame {
  /** Decode order from the probe's start: decoded frame n is video sample n fed to the decoder. */
  index: number;
  /** mfhd sequence number of the fragment (one LL-HLS part) the frame came in. */
  fragmentSequence: number;
  /** Presentation time, s. */
  ptsSec: number;
  /** The console's send time, read from the pixels (Unix ms). */
  stampMs: number;
  /** The edge's ingest wall clock of this frame from prft + media time (Unix ms). */
  ingestWallClockMs: number;
  /** Date.now() when the decoder returned the frame. */
  decodedAtMs: number;
  /** ingestWallClockMs - stampMs: how far the metadata clock runs behind the true capture time. */
  metadataErrorMs: number;
  /** decodedAtMs - stampMs: the true latency (pixels). */
  stampLatencyMs: number;
  /** decodedAtMs - ingestWallClockMs: the latency a player computes from the metadata. */
  metadataLatencyMs: number;
}

export type UnmatchedReason = 'unreadable' | 'no-prft';

export interface LatencyProbeEvents extends Record<string, unknown[]> {
  frame: [frame: ProbeFrame];
  /** A decoded frame missing one clock: no readable stamp, or its fragment carried no prft. */
  unmatched: [info: { index: number; reason: UnmatchedReason }];
  /** The LL-HLS client failed, the decoder exited, or the stream broke the frame matching. */
  error: [error: Error];
  /** close() finished. Emitted exactly once. */
  closed: [];
}

export interface LatencyProbeOptions {
  /** LL-HLS multivariant playlist, e.g. http://origin/hls/<stream>/index.m3u8. */
  url: string;
  /** Access token for the stream (trainee is enough), sent as `Authorization: Bearer`. */
  token?: string;
  /** Size the decoder scales to before reading the stamp (relative layout). Default 640x360. */
  width?: number;
  height?: number;
  /** Bound on close()'s wait for the decoder to return the frames it still holds. Default 5000 ms. */
  drainTimeoutMs?: number;
  ffmpegPath?: string;
}

export interface LatencyProbeStats {
  partsFetched: number;
  /** Video samples handed to the decoder. */
  samplesFed: number;
  framesDecoded: number;
  matched: number;
  unreadable: number;
  withoutPrft: number;
  /**
   * Set by close(): true when the drained decoder returned exactly one frame per sample fed, so
   * every decode-order match was exact; false when the counts differ; null before that.
   */
  aligned: boolean | null;
}

/** The LL-HLS multivariant playlist of a stream at an origin. */
export function llhlsUrl(originUrl: string, stream: string): string {
  return new URL(`/hls/${encodeURIComponent(stream)}/index.m3u8`, originUrl).href;
}

interface Expected {
  clock: FrameClock;
  fragmentSequence: number;
}

export class LatencyProbe extends TypedEmitter<LatencyProbeEvents> {
  readonly #client: LlHlsClient;
  readonly #reader: StampReader;
  readonly #drainTimeoutMs: number;
  /** Samples fed but not yet decoded, by decode index. */
  readonly #expected = new Map<number, Expected>();
  #init: InitInfo | null = null;
  #timescale = 1;
  #samplesFed = 0;
  #matched = 0;
  #unreadable = 0;
  #withoutPrft = 0;
  #aligned: boolean | null = null;
  #failed = false;
  #draining = false;
  /** Called on every decoded frame while close() drains the decoder. */
  #drained: (() => void) | null = null;
  #started = false;
  #closePromise: Promise<void> | null = null;

  constructor(options: LatencyProbeOptions) {
    super();
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 5000;
    this.#client = new LlHlsClient(options.url, options.token ? { token: options.token } : {});
    this.#reader = new StampReader({
      width: options.width ?? 640,
      height: options.height ?? 360,
      input: { kind: 'stdin' },
      ...(options.ffmpegPath ? { ffmpegPath: options.ffmpegPath } : {}),
    });
  }

  get stats(): LatencyProbeStats {
    return {
      partsFetched: this.#client.stats.partsFetched,
      samplesFed: this.#samplesFed,
      framesDecoded: this.#reader.framesDecoded,
      matched: this.#matched,
      unreadable: this.#unreadable,
      withoutPrft: this.#withoutPrft,
      aligned: this.#aligned,
    };
  }

  /** pid of the decoder, while it runs. */
  get pid(): number | undefined {
    return this.#reader.pid;
  }

  start(): void {
    if (this.#closePromise) throw new InvalidStateError('latency probe');
    if (this.#started) return;
    this.#started = true;
    this.#reader.on('sample', (s) => this.#onDecoded(s.frameIndex, s));
    this.#reader.on('unreadable', (index) => this.#onDecoded(index, null));
    this.#reader.on('died', (exit) => {
      if (!this.#draining) this.#fail(new Error(`decoder exited (code ${exit.code}, signal ${exit.signal}): ${exit.stderrTail}`));
    });
    this.#reader.start();
    this.#client.on('init', (data) => this.#onInit(data));
    this.#client.on('part', (part) => this.#onFragment(part.data));
    this.#client.on('error', (err) => this.#fail(err));
    this.#client.start();
  }

  #onInit(data: Buffer): void {
    if (this.#failed) return;
    try {
      const init = parseInit(data);
      if (!init.videoTrack) throw new Error('the stream has no video track');
      this.#init = init;
      this.#timescale = init.videoTrack.timescale;
      this.#reader.stdin?.write(data);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #onFragment(data: Buffer): void {
    const init = this.#init;
    if (this.#failed || !init) return;
    let info: FragmentInfo;
    try {
      info = parseFragment(data, init);
    } catch (err) {
      this.#fail(err as Error);
      return;
    }
    // Queue the clocks before the bytes reach the decoder: its frame n is sample n.
    for (const clock of frameClocks(info, init)) this.#expected.set(this.#samplesFed++, { clock, fragmentSequence: info.sequence });
    this.#reader.stdin?.write(data);
  }

  #onDecoded(index: number, sample: StampSample | null): void {
    const expected = this.#expected.get(index);
    this.#expected.delete(index);
    if (!expected) {
      this.#fail(new Error(`decoder returned frame ${index} but only ${this.#samplesFed} samples were fed: matching lost`));
      return;
    }
    this.#drained?.();
    const ingest = expected.clock.ingestWallClockMs;
    if (!sample) {
      this.#unreadable += 1;
      this.emit('unmatched', { index, reason: 'unreadable' });
    } else if (ingest === undefined) {
      this.#withoutPrft += 1;
      this.emit('unmatched', { index, reason: 'no-prft' });
    } else {
      this.#matched += 1;
      this.emit('frame', {
        index,
        fragmentSequence: expected.fragmentSequence,
        ptsSec: expected.clock.pts / this.#timescale,
        stampMs: sample.stampMs,
        ingestWallClockMs: ingest,
        decodedAtMs: sample.decodedAtMs,
        metadataErrorMs: ingest - sample.stampMs,
        stampLatencyMs: sample.decodedAtMs - sample.stampMs,
        metadataLatencyMs: sample.decodedAtMs - ingest,
      });
    }
  }

  #fail(error: Error): void {
    if (this.#failed || this.#closePromise) return;
    this.#failed = true;
    this.emit('error', error);
  }

  /** Idempotent: stops fetching, drains the decoder (bounded), checks the alignment, ends ffmpeg. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closePromise = this.#shutdown().then(() => {
      this.emit('closed');
      this.removeAllListeners();
    });
    return this.#closePromise;
  }

  async #shutdown(): Promise<void> {
    await this.#client.close();
    const stdin = this.#reader.stdin;
    if (this.#started && !this.#failed && stdin && !stdin.destroyed) {
      // End of input makes ffmpeg hand back every frame it still holds; waiting on the count
      // (not on exit, which can precede the last stdout bytes) tells whether all samples came back.
      this.#draining = true;
      const done = (): boolean => this.#reader.framesDecoded >= this.#samplesFed;
      await new Promise<void>((resolve) => {
        const finish = (): void => {
          clearTimeout(timer);
          this.#drained = null;
          resolve();
        };
        const timer = setTimeout(finish, this.#drainTimeoutMs);
        this.#drained = () => {
          if (done()) finish();
        };
        stdin.end();
        if (done()) finish();
      });
      this.#aligned = this.#reader.framesDecoded === this.#samplesFed;
    }
    await this.#reader.close();
  }
}
