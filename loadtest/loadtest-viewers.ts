// The load test's viewers: many per event loop, so nothing is decoded and nothing kept.
//
// HlsLoadViewer behaves like hls.js in lowLatencyMode on the wire (as LlHlsClient does: start on
// the independent part PART-HOLD-BACK behind the live edge, then blocking reloads with
// _HLS_msn/_HLS_part and each new part fetched as soon as it is listed), but sends through
// undici's raw dispatch API on a shared keep-alive Agent (no Response or Readable per request:
// that machinery cost the viewers a third of their CPU, taken from the origin on this 2-core
// box), counts media bytes instead of buffering them, and parses only the lines it needs in one
// pass. Its latency is part arrival - the part's ingest wall clock
// (EXT-X-PROGRAM-DATE-TIME of its segment + the parts before it): no decoding, so 500 of them fit
// in one process; origin and viewers share the machine's clock.
//
// The WHEP viewer is in loadtest-whep-viewer.ts (so LL-HLS workers do not load werift).
import type { Dispatcher } from 'undici';

// --- the playlist, parsed for a load viewer (pure) -------------------------------------------

export interface LivePart {
  uri: string;
  duration: number;
  independent: boolean;
  /** Ingest wall clock of the part's first sample, Unix ms; null without a PROGRAM-DATE-TIME. */
  wallClockMs: number | null;
}

export interface LivePlaylist {
  mapUri: string | null;
  partTarget: number | null;
  partHoldBack: number | null;
  parts: LivePart[];
  ended: boolean;
  /** msn and part index a blocking reload should ask for next. */
  next: { msn: number; part: number };
}

function quoted(line: string, name: string): string | null {
  const at = line.indexOf(`${name}="`);
  if (at < 0) return null;
  const start = at + name.length + 2;
  const end = line.indexOf('"', start);
  return end < 0 ? null : line.slice(start, end);
}

function numberAttr(line: string, name: string): number | null {
  const at = line.indexOf(`${name}=`);
  if (at < 0) return null;
  const value = Number.parseFloat(line.slice(at + name.length + 1));
  return Number.isFinite(value) ? value : null;
}

/**
 * One pass over an LL-HLS media playlist: the listed parts with their ingest wall clocks (each
 * segment's PROGRAM-DATE-TIME plus the durations of the parts before it in that segment).
 */
export function parseLivePlaylist(text: string): LivePlaylist {
  if (!text.startsWith('#EXTM3U')) throw new Error('not an M3U8 playlist');
  const out: LivePlaylist = { mapUri: null, partTarget: null, partHoldBack: null, parts: [], ended: false, next: { msn: 0, part: 0 } };
  let msn = 0;
  let index = 0;
  let segmentClock: number | null = null;
  let offsetS = 0;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    const line = text.charCodeAt(end - 1) === 13 ? text.slice(pos, end - 1) : text.slice(pos, end);
    pos = end + 1;
    if (line.startsWith('#EXT-X-PART:')) {
      const duration = numberAttr(line, 'DURATION') ?? 0;
      out.parts.push({
        uri: quoted(line, 'URI') ?? '',
        duration,
        independent: line.includes('INDEPENDENT=YES'),
        wallClockMs: segmentClock === null ? null : segmentClock + offsetS * 1000,
      });
      offsetS += duration;
      index += 1;
    } else if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) {
      const ms = Date.parse(line.slice(25));
      segmentClock = Number.isFinite(ms) ? ms : null;
      offsetS = 0;
    } else if (line.startsWith('#EXT-X-MEDIA-SEQUENCE:')) {
      msn = Number(line.slice(22));
    } else if (line.startsWith('#EXT-X-MAP:')) {
      out.mapUri ??= quoted(line, 'URI');
    } else if (line.startsWith('#EXT-X-PART-INF:')) {
      out.partTarget = numberAttr(line, 'PART-TARGET');
    } else if (line.startsWith('#EXT-X-SERVER-CONTROL:')) {
      out.partHoldBack = numberAttr(line, 'PART-HOLD-BACK');
    } else if (line === '#EXT-X-ENDLIST') {
      out.ended = true;
    } else if (line.length > 0 && !line.startsWith('#')) {
      msn += 1; // a segment URI closes the segment
      index = 0;
      segmentClock = null;
      offsetS = 0;
    }
  }
  out.next = { msn, part: index };
  return out;
}

/** The first variant URI of a master playlist. */
export function firstVariant(master: string): string {
  const lines = master.split(/\r?\n/);
  const i = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  const uri = i >= 0 ? lines[i + 1] : undefined;
  if (!uri) throw new Error('master playlist has no variant');
  return uri;
}

/** Index of the independent part at or before (live edge - hold back), as hls.js starts. */
export function startPartIndex(parts: readonly LivePart[], holdBackS: number): number {
  let edge = 0;
  for (const p of parts) edge += p.duration;
  let t = 0;
  let start = 0;
  for (let i = 0; i < parts.length; i++) {
    if (parts[i]!.independent && t <= edge - holdBackS) start = i;
    t += parts[i]!.duration;
  }
  return start;
}

// --- viewers --------------------------------------------------------------------------------

/** Where a viewer reports to (the worker that runs it). */
export interface ViewerSink {
  /** One latency sample, ms, taken at atMs (Unix ms). */
  sample(atMs: number, latencyMs: number): void;
  /** A counted failure; kinds are stable strings such as "hls:http-503:playlist". */
  error(kind: string): void;
}

/** No part (HLS) or frame (WHEP) for this long while following = one stall. */
export const STALL_MS = 2000;
/** A failed viewer tries again after this long (as a player retries). */
export const RETRY_MS = 1000;

/** An HTTP failure with a kind for the error table. */
class ViewerError extends Error {
  readonly kind: string;
  constructor(kind: string, message: string) {
    super(message);
    this.kind = kind;
  }
}

export function errorKind(prefix: string, err: unknown): string {
  if (err instanceof ViewerError) return `${prefix}:${err.kind}`;
  const e = err as { code?: unknown; name?: unknown; message?: unknown };
  return `${prefix}:${typeof e.code === 'string' ? e.code : typeof e.name === 'string' ? e.name : 'error'}`;
}

export const sleepUnlessAborted = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', done);
      resolve();
    }, ms);
    const done = (): void => {
      clearTimeout(timer);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
  });

export interface ViewerCounters {
  /** Parts (HLS) or frames (WHEP) received. */
  media: number;
  bytes: number;
  requests: number;
}

export interface HlsLoadViewerOptions {
  dispatcher: Dispatcher;
  sink: ViewerSink;
  token?: string;
}

export class HlsLoadViewer {
  readonly #masterUrl: string;
  readonly #options: HlsLoadViewerOptions;
  readonly #headers: Record<string, string>;
  readonly #abort = new AbortController();
  readonly counters: ViewerCounters = { media: 0, bytes: 0, requests: 0 };
  #running: Promise<void> | null = null;
  /** Date.now() of the last part while following the live edge; 0 while (re)starting. */
  #lastPartAt = 0;
  #stalled = false;
  /** Aborts the request in flight (set once it is on a connection). */
  #abortRequest: ((err?: Error) => void) | null = null;

  constructor(masterUrl: string, options: HlsLoadViewerOptions) {
    this.#masterUrl = masterUrl;
    this.#options = options;
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
  }

  get hasMedia(): boolean {
    return this.counters.media > 0;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /** Counts a stall once per episode: following, and no part for STALL_MS. */
  checkStall(now: number): void {
    if (this.#lastPartAt === 0) return;
    const stalled = now - this.#lastPartAt > STALL_MS;
    if (stalled && !this.#stalled) this.#options.sink.error('hls:stall');
    this.#stalled = stalled;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    this.#abortRequest?.(new ViewerError('aborted', 'viewer closed'));
    await this.#running;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      try {
        await this.#session();
      } catch (err) {
        if (signal.aborted) return;
        this.#options.sink.error(errorKind('hls', err));
      }
      this.#lastPartAt = 0;
      await sleepUnlessAborted(RETRY_MS, signal);
    }
  }

  /** One GET on the pool; the body is kept only when asked (playlists), else just counted. */
  #get(url: URL, what: string, keepBody: boolean): Promise<Buffer | null> {
    this.counters.requests += 1;
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.reject(new ViewerError('aborted', 'viewer closed'));
    return new Promise((resolve, reject) => {
      let status = 0;
      const chunks: Buffer[] = [];
      const counters = this.counters;
      const finish = (err: Error | null): void => {
        this.#abortRequest = null;
        if (err) reject(err);
        else if (status !== 200) reject(new ViewerError(`http-${status}:${what}`, `GET ${url.href}: HTTP ${status}`));
        else resolve(keepBody ? Buffer.concat(chunks) : null);
      };
      this.#options.dispatcher.dispatch(
        { origin: url.origin, path: url.pathname + url.search, method: 'GET', headers: this.#headers },
        {
          onConnect: (abort) => {
            // Closed while this request waited for a pooled connection: end it now.
            if (signal.aborted) abort(new ViewerError('aborted', 'viewer closed'));
            else this.#abortRequest = abort;
          },
          onHeaders: (statusCode) => {
            status = statusCode;
            return true;
          },
          onData: (chunk) => {
            counters.bytes += chunk.length;
            if (keepBody) chunks.push(chunk);
            return true;
          },
          onComplete: () => finish(null),
          onError: (err) => finish(err),
        },
      );
    });
  }

  async #text(url: URL, what: string): Promise<string> {
    return (await this.#get(url, what, true))!.toString('utf8');
  }

  async #fetchPart(url: URL): Promise<number> {
    await this.#get(url, 'part', false);
    this.counters.media += 1;
    return Date.now();
  }

  async #session(): Promise<void> {
    const mediaUrl = new URL(firstVariant(await this.#text(new URL(this.#masterUrl), 'master')), this.#masterUrl);
    let playlist = parseLivePlaylist(await this.#text(mediaUrl, 'playlist'));
    if (!playlist.mapUri) throw new ViewerError('no-map', 'no EXT-X-MAP');
    await this.#get(new URL(playlist.mapUri, mediaUrl), 'init', false);

    // The start backlog (PART-HOLD-BACK worth) is fetched at once and not measured: it is old by design.
    const holdBack = playlist.partHoldBack ?? 3 * (playlist.partTarget ?? 1);
    let lastUri: string | null = null;
    for (const part of playlist.parts.slice(startPartIndex(playlist.parts, holdBack))) {
      await this.#fetchPart(new URL(part.uri, mediaUrl));
      lastUri = part.uri;
    }
    this.#lastPartAt = Date.now();
    const reload = new URL(mediaUrl);
    while (!this.#abort.signal.aborted) {
      if (playlist.ended) throw new ViewerError('ended', 'the stream ended');
      reload.searchParams.set('_HLS_msn', String(playlist.next.msn));
      reload.searchParams.set('_HLS_part', String(playlist.next.part));
      playlist = parseLivePlaylist(await this.#text(reload, 'playlist'));
      const at = lastUri === null ? -1 : playlist.parts.findIndex((p) => p.uri === lastUri);
      let fresh: LivePart[];
      if (at >= 0) {
        fresh = playlist.parts.slice(at + 1);
      } else {
        // Fell out of the window: resync from the newest independent part, as a player would.
        this.#options.sink.error('hls:lost-place');
        fresh = playlist.parts.slice(Math.max(0, playlist.parts.findLastIndex((p) => p.independent)));
      }
      for (const part of fresh) {
        const arrived = await this.#fetchPart(new URL(part.uri, mediaUrl));
        lastUri = part.uri;
        this.#lastPartAt = arrived;
        if (part.wallClockMs !== null) this.#options.sink.sample(arrived, arrived - part.wallClockMs);
      }
    }
  }
}
