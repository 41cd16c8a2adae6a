import { Rendition, type RenditionOptions } from '../hls/rendition.js';
import { RealtimeFeed } from '../webrtc/realtime-feed.js';

export type StreamState = 'live' | 'ended';

export interface LiveStreamInfo {
  name: string;
  state: StreamState;
  edgeId: string;
  profile: string;
  startedAt: string;
  endedAt: string | null;
  renditions: Array<{ name: string; codecs: string[]; width?: number; height?: number; bandwidth: number; segments: number; liveEdgeMsn: number }>;
}

/** A stream at the origin: its renditions. Owned by the registry; close() closes every rendition. */
export class LiveStream {
  readonly name: string;
  readonly edgeId: string;
  readonly profile: string;
  readonly startedAt = new Date();
  /** Per-frame feed for WebRTC viewers (the edge's realtime output). */
  readonly realtime: RealtimeFeed;
  readonly #renditions = new Map<string, Rendition>();
  #endedAt: Date | null = null;
  #closed = false;

  constructor(name: string, edgeId: string, profile: string) {
    this.name = name;
    this.edgeId = edgeId;
    this.profile = profile;
    this.realtime = new RealtimeFeed(name);
  }

  get state(): StreamState {
    return this.#endedAt ? 'ended' : 'live';
  }

  get endedAt(): Date | null {
    return this.#endedAt;
  }

  rendition(name: string): Rendition | undefined {
    return this.#renditions.get(name);
  }

  get renditions(): Rendition[] {
    return [...this.#renditions.values()];
  }

  /** Get or create a rendition (the edge's init request creates it). */
  ensureRendition(options: RenditionOptions): Rendition {
    let rendition = this.#renditions.get(options.name);
    if (!rendition) {
      rendition = new Rendition(options);
      this.#renditions.set(options.name, rendition);
    }
    return rendition;
  }

  end(): void {
    if (this.#endedAt) return;
    this.#endedAt = new Date();
    for (const r of this.#renditions.values()) r.end();
    this.realtime.end();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#renditions.values()) r.close();
    this.realtime.end();
  }

  info(): LiveStreamInfo {
    return {
      name: this.name,
      state: this.state,
      edgeId: this.edgeId,
      profile: this.profile,
      startedAt: this.startedAt.toISOString(),
      endedAt: this.#endedAt?.toISOString() ?? null,
      renditions: this.renditions.map((r) => {
        const info = r.initInfo;
        const video = info?.videoTrack;
        return {
          name: r.name,
          codecs: info?.tracks.map((t) => t.codec) ?? [],
          ...(video?.width ? { width: video.width } : {}),
          ...(video?.height ? { height: video.height } : {}),
          bandwidth: Math.round(r.bandwidth),
          segments: r.store.segments.length,
          liveEdgeMsn: r.store.liveEdgeMsn,
        };
      }),
    };
  }
}
