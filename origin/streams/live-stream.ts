import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { RelayHeader } from '../cluster/relay-protocol.js';
import { Rendition, type RenditionOptions } from '../hls/rendition.js';
import { RealtimeFeed } from '../webrtc/realtime-feed.js';

export type StreamState = 'live' | 'ended';

export interface LiveStreamInfo {
  name: string;
  state: StreamState;
  edgeId: string;
  profile: string;
  /** The origin this stream is pulled from (cluster id); null when its edge pushes here. */
  relayedFrom: string | null;
  startedAt: string;
  endedAt: string | null;
  renditions: Array<{ name: string; codecs: string[]; width?: number; height?: number; bandwidth: number; segments: number; liveEdgeMsn: number }>;
}

export interface LiveStreamEvents extends Record<string, unknown[]> {
  /** Media accepted into this stream (not duplicates), as the cluster relay forwards it. */
  media: [header: RelayHeader, body: Buffer];
  ended: [];
  /** Removed from the registry or the origin is closing: nothing more will come. */
  closed: [];
}

/** A stream at the origin: its renditions. Owned by the registry; close() closes every rendition. */
export class LiveStream extends TypedEmitter<LiveStreamEvents> {
  readonly name: string;
  readonly edgeId: string;
  readonly profile: string;
  readonly relayedFrom: string | null;
  readonly startedAt = new Date();
  /** Per-frame feed for WebRTC viewers (the edge's realtime output). */
  readonly realtime: RealtimeFeed;
  /** The realtime feed's init segment as received (a relay starts a puller with it). */
  realtimeInit: Buffer | null = null;
  readonly #renditions = new Map<string, Rendition>();
  #endedAt: Date | null = null;
  #closed = false;

  constructor(name: string, edgeId: string, profile: string, relayedFrom: string | null = null) {
    super();
    this.name = name;
    this.edgeId = edgeId;
    this.profile = profile;
    this.relayedFrom = relayedFrom;
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

  /** Tell relay listeners about media just stored (stream-media.ts calls this). */
  forward(header: RelayHeader, body: Buffer): void {
    if (this.listenerCount('media') > 0) this.emit('media', header, body);
  }

  end(): void {
    if (this.#endedAt) return;
    this.#endedAt = new Date();
    for (const r of this.#renditions.values()) r.end();
    this.realtime.end();
    this.emit('ended');
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const r of this.#renditions.values()) r.close();
    this.realtime.end();
    this.emit('closed');
  }

  info(): LiveStreamInfo {
    return {
      name: this.name,
      state: this.state,
      edgeId: this.edgeId,
      profile: this.profile,
      relayedFrom: this.relayedFrom,
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
