// A low-latency HLS client that behaves like hls.js in lowLatencyMode: it starts PART-HOLD-BACK
// behind the live edge on an independent part, then follows with blocking playlist reloads
// (_HLS_msn/_HLS_part) and fetches each new part as soon as it is listed.
import { TypedEmitter } from '../lib/typed-emitter.js';
import { firstVariantUri, parseMediaPlaylist, type ParsedPart } from './llhls-playlist.js';

export interface FetchedPart extends ParsedPart {
  data: Buffer;
  /** Date.now() when the part's bytes had arrived. */
  arrivedAtMs: number;
  /** Media time from the start position, s. */
  mediaStart: number;
}

export interface LlHlsClientEvents extends Record<string, unknown[]> {
  init: [data: Buffer];
  /** The media time (relative to the first part fetched) playback should start at. */
  start: [info: { targetMediaTime: number; holdBack: number }];
  part: [part: FetchedPart];
  error: [error: Error];
  ended: [];
}

export interface LlHlsClientOptions {
  /** Access token (a viewer role for the stream), sent as `Authorization: Bearer` on every request. */
  token?: string;
}

export class LlHlsClient extends TypedEmitter<LlHlsClientEvents> {
  readonly #masterUrl: string;
  readonly #headers: Record<string, string>;
  readonly #abort = new AbortController();
  #running: Promise<void> | null = null;
  #partsFetched = 0;
  #requests = 0;

  constructor(masterUrl: string, options: LlHlsClientOptions = {}) {
    super();
    this.#masterUrl = masterUrl;
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  get stats(): { partsFetched: number; requests: number } {
    return { partsFetched: this.#partsFetched, requests: this.#requests };
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
    this.#requests += 1;
    const res = await fetch(url, { headers: this.#headers, signal: this.#abort.signal });
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
    return res;
  }

  async #run(): Promise<void> {
    const master = await (await this.#get(this.#masterUrl)).text();
    const mediaUrl = new URL(firstVariantUri(master), this.#masterUrl);
    let playlist = parseMediaPlaylist(await (await this.#get(mediaUrl.href)).text());
    if (!playlist.mapUri) throw new Error('no EXT-X-MAP');
    this.emit('init', Buffer.from(await (await this.#get(new URL(playlist.mapUri, mediaUrl).href)).arrayBuffer()));

    // Start: the independent part at or before (live edge - PART-HOLD-BACK).
    const holdBack = playlist.partHoldBack ?? 3 * (playlist.partTarget ?? 1);
    const parts = playlist.parts;
    let edge = 0;
    for (const p of parts) edge += p.duration;
    let t = 0;
    let startIndex = 0;
    for (let i = 0; i < parts.length; i++) {
      if (parts[i]!.independent && t <= edge - holdBack) startIndex = i;
      t += parts[i]!.duration;
    }
    let before = 0;
    for (let i = 0; i < startIndex; i++) before += parts[i]!.duration;
    this.emit('start', { targetMediaTime: Math.max(0, edge - holdBack - before), holdBack });

    let mediaTime = 0;
    let last: ParsedPart | null = null;
    const fetchPart = async (part: ParsedPart): Promise<void> => {
      const data = Buffer.from(await (await this.#get(new URL(part.uri, mediaUrl).href)).arrayBuffer());
      this.#partsFetched += 1;
      this.emit('part', { ...part, data, arrivedAtMs: Date.now(), mediaStart: mediaTime });
      mediaTime += part.duration;
      last = part;
    };
    for (const part of parts.slice(startIndex)) await fetchPart(part);

    while (!this.#abort.signal.aborted) {
      if (playlist.ended) {
        this.emit('ended');
        return;
      }
      const { msn, part } = playlist.next;
      const url = new URL(mediaUrl);
      url.searchParams.set('_HLS_msn', String(msn));
      url.searchParams.set('_HLS_part', String(part));
      playlist = parseMediaPlaylist(await (await this.#get(url.href)).text());
      const lastUri: string | null = (last as ParsedPart | null)?.uri ?? null;
      const at = lastUri ? playlist.parts.findIndex((p) => p.uri === lastUri) : -1;
      // Lost our place (fell out of the window): resync from the newest independent part.
      const fresh = at >= 0 ? playlist.parts.slice(at + 1) : playlist.parts.slice(Math.max(0, playlist.parts.findLastIndex((p) => p.independent)));
      for (const p of fresh) await fetchPart(p);
    }
  }
}
