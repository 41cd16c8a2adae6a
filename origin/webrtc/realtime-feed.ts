import type { FragmentInfo, InitInfo, TrackInfo } from '../../codecs/fmp4/index.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';

/** One encoded video frame as it left the edge's encoder. */
export interface RealtimeFrame {
  /** AVCC access unit (length-prefixed NAL units). */
  data: Buffer;
  keyframe: boolean;
  /** Presentation time in the track timescale. */
  pts: number;
  timescale: number;
  /** Edge ingest (encoder-input) wall clock of this frame, Unix ms; undefined if the edge sent none. */
  wallClockMs: number | undefined;
  /** Init generation this frame belongs to (a new encoder restarts the timeline). */
  generation: number;
}

/** One encoded Opus packet of the realtime feed. */
export interface RealtimeAudio {
  data: Buffer;
  pts: number;
  timescale: number;
  wallClockMs: number | undefined;
  generation: number;
}

export interface RealtimeFeedEvents extends Record<string, unknown[]> {
  init: [track: TrackInfo, generation: number];
  frame: [frame: RealtimeFrame];
  audio: [packet: RealtimeAudio];
  ended: [];
}

/**
 * The per-frame feed of a live stream at the origin (from the edge's realtime output), shared
 * by every WebRTC viewer of the stream. Pure bookkeeping; the ingest route feeds it.
 */
export class RealtimeFeed extends TypedEmitter<RealtimeFeedEvents> {
  readonly stream: string;
  #track: TrackInfo | null = null;
  #audioTrack: TrackInfo | null = null;
  #generation = -1;
  #frames = 0;
  #lastFrameAt = 0;
  #ended = false;

  constructor(stream: string) {
    super();
    this.stream = stream;
  }

  get track(): TrackInfo | null {
    return this.#track;
  }

  get generation(): number {
    return this.#generation;
  }

  get frames(): number {
    return this.#frames;
  }

  /** Date.now() of the last frame, 0 if none. */
  get lastFrameAt(): number {
    return this.#lastFrameAt;
  }

  get ended(): boolean {
    return this.#ended;
  }

  setInit(info: InitInfo): void {
    if (this.#ended) return;
    const video = info.videoTrack;
    if (!video) return;
    this.#track = video;
    // Only Opus can go to a browser over RTP; other audio stays on the LL-HLS path.
    this.#audioTrack = info.audioTrack?.codec === 'opus' ? info.audioTrack : null;
    this.#generation += 1;
    this.emit('init', video, this.#generation);
  }

  get audioTrack(): TrackInfo | null {
    return this.#audioTrack;
  }

  push(data: Buffer, info: FragmentInfo): void {
    const track = this.#track;
    if (this.#ended || !track) return;
    const prft = info.prft;
    // prft stamps the first sample of its track in this fragment; later samples follow in media time.
    const wallClock = (trackInfo: TrackInfo, decodeTime: number): number | undefined =>
      prft && prft.trackId === trackInfo.id ? prft.wallClockMs + ((decodeTime - prft.mediaTime) * 1000) / trackInfo.timescale : undefined;
    const audioTrack = this.#audioTrack;
    const audio = audioTrack ? info.tracks.find((t) => t.trackId === audioTrack.id) : undefined;
    if (audio && audioTrack) {
      for (const sample of audio.samples) {
        this.emit('audio', {
          data: data.subarray(sample.offset, sample.offset + sample.size),
          pts: sample.decodeTime + sample.compositionOffset,
          timescale: audioTrack.timescale,
          wallClockMs: wallClock(audioTrack, sample.decodeTime),
          generation: this.#generation,
        });
      }
    }
    const video = info.tracks.find((t) => t.trackId === track.id);
    if (!video) return;
    for (const sample of video.samples) {
      const pts = sample.decodeTime + sample.compositionOffset;
      const wallClockMs = wallClock(track, sample.decodeTime);
      this.#frames += 1;
      this.#lastFrameAt = Date.now();
      this.emit('frame', {
        data: data.subarray(sample.offset, sample.offset + sample.size),
        keyframe: sample.keyframe,
        pts,
        timescale: track.timescale,
        wallClockMs,
        generation: this.#generation,
      });
    }
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.emit('ended');
  }
}
