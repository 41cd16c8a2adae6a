import type { FastifyBaseLogger } from 'fastify';
import { FfmpegSupervisor, ProgressParser, type EncoderProgress, type FfmpegProcess } from '../../codecs/ffmpeg/index.js';
import { Fmp4Splitter, parseFragment, parseInit, type InitInfo } from '../../codecs/fmp4/index.js';
import { PROGRESS_OUTPUT_FD, REALTIME_OUTPUT_FD, transcodeArgs, type ConsoleProfile } from '../../codecs/profiles/index.js';
import { InvalidStateError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { MediaInput } from '../ingest/media-input.js';
import type { LocalRecorder } from '../recording/local-recorder.js';
import type { EdgeMetrics } from '../metrics.js';
import { RealtimeUplink } from '../uplink/realtime-uplink.js';
import { StreamUplink, type UplinkTarget } from '../uplink/stream-uplink.js';

export interface StreamPipelineOptions {
  stream: string;
  profile: ConsoleProfile;
  /** The published console: RTMP (FLV on stdin) or WHIP (RTP described by SDP). */
  source: MediaInput;
  uplink: UplinkTarget;
  ffmpegPath: string;
  restartMinMs: number;
  restartMaxMs: number;
  log: FastifyBaseLogger;
  metrics: EdgeMetrics;
  /** The edge's own copy of the case (null = not recorded here). Closed with the pipeline. */
  recorder: LocalRecorder | null;
}

/** What the encoder reports about itself, for the origin's status and metrics. */
export interface EncoderStats {
  /** Speed relative to real time (1 = keeping up); null until ffmpeg reports one. */
  speed: number | null;
  fps: number;
  droppedFrames: number;
  duplicatedFrames: number;
  /** Median ingest -> encoded delay over recent output, ms, per feed (null before output). */
  encodeMs: { llhls: number | null; webrtc: number | null };
}

/** Recent delays kept for the medians. */
const DELAY_WINDOW = 30;

export interface StreamPipelineEvents extends Record<string, unknown[]> {
  /** An encoder process started (first start or restart). */
  encoderStarted: [pid: number, attempt: number];
  /** The encoder died on its own; it restarts after delayMs. */
  encoderDied: [info: { code: number | null; signal: string | null; stderrTail: string; delayMs: number }];
  /** close() finished: encoder gone, uplink done. Emitted once. */
  closed: [];
}

/**
 * One published console: media input (RTMP or WHIP) -> supervised ffmpeg (profile) -> CMAF
 * fragments -> uplink.
 * Owns its ffmpeg and its uplink; close() ends both.
 */
export class StreamPipeline extends TypedEmitter<StreamPipelineEvents> {
  readonly stream: string;
  readonly profile: ConsoleProfile;
  readonly startedAt = new Date();
  readonly #options: StreamPipelineOptions;
  readonly #supervisor: FfmpegSupervisor;
  readonly #uplink: StreamUplink;
  readonly #realtime: RealtimeUplink;
  readonly #log: FastifyBaseLogger;
  #detachSource: (() => void) | null = null;
  #init: InitInfo | null = null;
  #fragments = 0;
  #closing: Promise<void> | null = null;
  #progress: EncoderProgress | null = null;
  readonly #encodeDelays = { llhls: [] as number[], webrtc: [] as number[] };

  constructor(options: StreamPipelineOptions) {
    super();
    this.#options = options;
    this.stream = options.stream;
    this.profile = options.profile;
    this.#log = options.log.child({ stream: options.stream });
    const { profile } = options;
    this.#uplink = new StreamUplink(
      options.uplink,
      {
        stream: options.stream,
        rendition: 'main',
        profile: profile.name,
        partTarget: profile.partSeconds,
        bandwidth: (profile.video.bitrateKbps + profile.audio.bitrateKbps) * 1000,
      },
      this.#log,
    );
    this.#realtime = new RealtimeUplink(options.uplink, options.stream, this.#log);
    const { metrics } = options;
    this.#uplink.on('sent', ({ delayMs }) => {
      if (delayMs !== undefined) metrics.encodeDelay.observe({ stream: this.stream, hop: 'ingest_to_origin' }, delayMs / 1000);
      metrics.uplinkQueueBytes.set({ stream: this.stream }, this.#uplink.stats.queuedBytes);
    });
    this.#uplink.on('failed', () => metrics.uplinkFailures.inc({ stream: this.stream }));
    this.#uplink.on('dropped', (count, _bytes, span) => {
      metrics.uplinkDropped.inc({ stream: this.stream }, count);
      if (span) options.recorder?.noteUplinkGap(span.fromMs, span.toMs, count);
    });

    this.#supervisor = new FfmpegSupervisor({
      processOptions: () => ({
        args: transcodeArgs(profile, options.source.transcodeInput),
        stdin: 'pipe',
        stdout: 'pipe',
        extraOutputs: 2, // pipe:3 realtime feed, pipe:4 progress
        ...(options.ffmpegPath ? { path: options.ffmpegPath } : {}),
      }),
      initialBackoffMs: options.restartMinMs,
      maxBackoffMs: options.restartMaxMs,
      healthyAfterMs: 10_000,
    });
    this.#supervisor.on('started', (process, attempt) => this.#wire(process, attempt));
    this.#supervisor.on('died', (exit, delayMs) => {
      this.#detach();
      metrics.ffmpegRestarts.inc({ stream: this.stream });
      this.#log.error({ code: exit.code, signal: exit.signal, stderr: exit.stderrTail, restartInMs: delayMs }, 'encoder died');
      this.emit('encoderDied', { code: exit.code, signal: exit.signal, stderrTail: exit.stderrTail, delayMs });
    });
  }

  start(): void {
    if (this.#closing) throw new InvalidStateError(`pipeline ${this.stream}`);
    this.#supervisor.start();
  }

  /** The console's media as this pipeline reads it. */
  get input(): MediaInput {
    return this.#options.source;
  }

  get encoderPid(): number | null {
    return this.#supervisor.process?.pid ?? null;
  }

  get encoderStats(): EncoderStats {
    const p = this.#progress;
    return {
      speed: p?.speed ?? null,
      fps: p?.fps ?? 0,
      droppedFrames: p?.dropFrames ?? 0,
      duplicatedFrames: p?.dupFrames ?? 0,
      encodeMs: { llhls: median(this.#encodeDelays.llhls), webrtc: median(this.#encodeDelays.webrtc) },
    };
  }

  get info(): Record<string, unknown> {
    return {
      stream: this.stream,
      ingest: this.#options.source.kind,
      profile: this.profile.name,
      startedAt: this.startedAt.toISOString(),
      encoder: { pid: this.encoderPid, restarts: this.#supervisor.restarts },
      output: this.#init?.videoTrack
        ? { codecs: this.#init.tracks.map((t) => t.codec), width: this.#init.videoTrack.width, height: this.#init.videoTrack.height }
        : null,
      fragments: this.#fragments,
      encoderStats: this.encoderStats,
      uplink: this.#uplink.stats,
      realtime: this.#realtime.stats,
      recording: this.#options.recorder?.meta ?? null,
      ...(this.#options.source.stats ? { input: this.#options.source.stats } : {}),
    };
  }

  /**
   * The publisher is gone: stop the encoder, deliver what is queued (bounded wait), tell the
   * origin the stream ended. Idempotent; close() during it cuts the wait short.
   */
  finish(drainTimeoutMs = 2000): Promise<void> {
    this.#closing ??= (async () => {
      this.#detach();
      await this.#supervisor.close();
      this.#realtime.close();
      this.#uplink.end();
      await this.#uplink.drain(drainTimeoutMs);
      this.#uplink.close();
      await this.#options.recorder?.close();
      this.emit('closed');
    })();
    return this.#closing;
  }

  /** Shut down now: encoder killed, uplink abandoned (no end marker wait). Idempotent. */
  close(): Promise<void> {
    this.#uplink.close();
    return this.finish(0);
  }

  #wire(process: FfmpegProcess, attempt: number): void {
    const splitter = new Fmp4Splitter();
    const stdin = process.stdin;
    const stdout = process.stdout;
    if (!stdin || !stdout) return;
    this.#log.info({ pid: process.pid, attempt }, 'encoder started');
    process.on('stderr', (line) => this.#log.debug({ pid: process.pid }, `ffmpeg: ${line}`));
    this.emit('encoderStarted', process.pid ?? -1, attempt);
    stdout.on('data', (chunk: Buffer) => {
      // Output still draining from an encoder being replaced is not this stream's any more.
      if (this.#supervisor.process !== process) return;
      try {
        for (const unit of splitter.push(chunk)) this.#onUnit(unit.kind, unit.data);
      } catch (err) {
        // Broken container output: restart the encoder rather than push garbage.
        this.#log.error({ err }, 'encoder output unparseable; restarting encoder');
        this.#detach();
        this.#supervisor.restart();
      }
    });
    // The realtime output must be read even with nobody watching, or ffmpeg blocks on it.
    const realtimeOut = process.output(REALTIME_OUTPUT_FD);
    const realtimeSplitter = new Fmp4Splitter();
    let realtimeInit: InitInfo | null = null;
    realtimeOut?.on('data', (chunk: Buffer) => {
      if (this.#supervisor.process !== process) return;
      try {
        for (const unit of realtimeSplitter.push(chunk)) {
          if (unit.kind === 'init') {
            realtimeInit = parseInit(unit.data);
            this.#realtime.sendInit(unit.data);
          } else if (realtimeInit) {
            const info = parseFragment(unit.data, realtimeInit);
            if (info.prft) this.#noteEncodeDelay('webrtc', Date.now() - info.prft.wallClockMs);
            this.#realtime.sendFragment(unit.data, info.startsWithKeyframe);
          }
        }
      } catch (err) {
        this.#log.error({ err }, 'realtime output unparseable; restarting encoder');
        this.#detach();
        this.#supervisor.restart();
      }
    });
    const progress = new ProgressParser();
    process.output(PROGRESS_OUTPUT_FD)?.setEncoding('utf8').on('data', (text: string) => {
      if (this.#supervisor.process !== process) return;
      const last = progress.push(text).at(-1);
      if (last) this.#progress = last;
    });
    // A fresh encoder needs its input from the start (FLV header + GOP, or SDP + a keyframe).
    this.#detach();
    this.#detachSource = this.#options.source.attach({
      stdin,
      restart: (reason) => {
        if (this.#supervisor.process !== process) return;
        this.#log.error({ pid: process.pid, reason }, 'restarting encoder');
        this.#detach();
        this.#supervisor.restart();
      },
    });
  }

  #onUnit(kind: 'init' | 'fragment', data: Buffer): void {
    if (kind === 'init') {
      this.#init = parseInit(data);
      this.#options.recorder?.init(data);
      this.#uplink.sendInit(data);
      return;
    }
    if (!this.#init) return;
    this.#options.recorder?.fragment(data);
    const info = parseFragment(data, this.#init);
    this.#fragments += 1;
    this.#options.metrics.fragments.inc({ stream: this.stream });
    const wallClockMs = info.prft?.wallClockMs;
    if (wallClockMs !== undefined) {
      this.#options.metrics.encodeDelay.observe({ stream: this.stream, hop: 'ingest_to_encoded' }, Math.max(0, Date.now() - wallClockMs) / 1000);
      this.#noteEncodeDelay('llhls', Date.now() - wallClockMs);
    }
    this.#uplink.sendFragment(data, info.startsWithKeyframe, wallClockMs);
  }

  #noteEncodeDelay(feed: 'llhls' | 'webrtc', ms: number): void {
    const list = this.#encodeDelays[feed];
    list.push(Math.max(0, ms));
    if (list.length > DELAY_WINDOW) list.shift();
  }

  #detach(): void {
    this.#detachSource?.();
    this.#detachSource = null;
  }
}

function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}
