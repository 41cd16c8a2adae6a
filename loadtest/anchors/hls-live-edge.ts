// A plain-HLS viewer at the live edge, for the nginx-rtmp anchor: it starts on the newest segment
// and fetches every new segment as soon as the playlist lists it. No hold-back, and the playlist
// is polled every pollMs (100 ms) rather than once per segment duration as hls.js does: a player
// reloading every 1 s keeps whatever phase it started with against the server's segment clock, a
// random 0-1 s of extra lag for the whole session (measured 0.7 s in one run). Polling often
// makes the anchor the reproducible best case of 1 s segments, not a default player (which also
// starts 3 target durations back).
import { TypedEmitter } from '../../lib/typed-emitter.js';

export interface HlsSegment {
  uri: string;
  /** Media sequence number. */
  sequence: number;
  duration: number;
}

export interface HlsMediaPlaylist {
  targetDuration: number;
  mediaSequence: number;
  segments: HlsSegment[];
  ended: boolean;
}

/** Pure: the segments of a plain (not low-latency) HLS media playlist. */
export function parseHlsPlaylist(text: string): HlsMediaPlaylist {
  const lines = text.split(/\r?\n/);
  if (lines[0] !== '#EXTM3U') throw new Error('not an M3U8 playlist');
  const out: HlsMediaPlaylist = { targetDuration: 0, mediaSequence: 0, segments: [], ended: false };
  let duration = 0;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-TARGETDURATION:')) out.targetDuration = Number(line.slice(22));
    else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) out.mediaSequence = Number(line.slice(22));
    else if (line.startsWith('#EXTINF:')) duration = Number.parseFloat(line.slice(8));
    else if (line === '#EXT-X-ENDLIST') out.ended = true;
    else if (line && !line.startsWith('#')) {
      out.segments.push({ uri: line, sequence: out.mediaSequence + out.segments.length, duration });
      duration = 0;
    }
  }
  return out;
}

export interface FetchedSegment extends HlsSegment {
  data: Buffer;
  arrivedAtMs: number;
}

export interface LiveEdgeHlsEvents extends Record<string, unknown[]> {
  segment: [segment: FetchedSegment];
  error: [error: Error];
}

export class LiveEdgeHlsClient extends TypedEmitter<LiveEdgeHlsEvents> {
  readonly #url: string;
  readonly #pollMs: number;
  readonly #abort = new AbortController();
  #running: Promise<void> | null = null;
  #reloads = 0;

  constructor(playlistUrl: string, options: { pollMs?: number } = {}) {
    super();
    this.#url = playlistUrl;
    this.#pollMs = options.pollMs ?? 100;
  }

  get stats(): { reloads: number } {
    return { reloads: this.#reloads };
  }

  start(): void {
    this.#running ??= this.#run().catch((err: Error) => {
      if (!this.#abort.signal.aborted) this.emit('error', err);
    });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.#running;
  }

  async #get(url: string): Promise<Response> {
    const res = await fetch(url, { signal: this.#abort.signal, cache: 'no-store' });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return res;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, Math.max(0, ms));
      this.#abort.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }

  async #run(): Promise<void> {
    let last = -1;
    for (;;) {
      const loadStart = Date.now();
      this.#reloads += 1;
      const playlist = parseHlsPlaylist(await (await this.#get(this.#url)).text());
      // First load: only the newest segment (the live edge). Later: everything after the last one
      // fetched; if that fell out of the window, the newest again.
      const newer = playlist.segments.filter((s) => s.sequence > last);
      const fresh = last < 0 || newer[0]?.sequence !== last + 1 ? newer.slice(-1) : newer;
      for (const segment of fresh) {
        const data = Buffer.from(await (await this.#get(new URL(segment.uri, this.#url).href)).arrayBuffer());
        if (this.#abort.signal.aborted) return;
        this.emit('segment', { ...segment, data, arrivedAtMs: Date.now() });
        last = segment.sequence;
      }
      if (playlist.ended || this.#abort.signal.aborted) return;
      await this.#sleep(loadStart + this.#pollMs - Date.now());
      if (this.#abort.signal.aborted) return;
    }
  }
}
