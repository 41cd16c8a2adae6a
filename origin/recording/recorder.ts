// Records one case: every completed segment of one live stream (and of the same stream again when
// its publisher reconnects within the grace time), the VOD playlist, the annotation track, chapters
// and meta. Event handlers only plan and enqueue; the disk work runs in order on one SerialQueue.
import { appendFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { AnnotationEvent } from '../../lib/annotations.js';
import { ScopecastError } from '../../lib/errors.js';
import type { AnnotationHub } from '../annotations/hub.js';
import type { Segment } from '../hls/part-store.js';
import { initUri, segmentUri } from '../hls/playlist.js';
import type { Rendition } from '../hls/rendition.js';
import type { LiveStream } from '../streams/live-stream.js';
import { writeFileAtomic } from './files.js';
import { MAX_BOOKMARKS, MAX_MANUAL_CHAPTERS, sortChapters, type MarkInput, type MetaPatch } from './model.js';
import type { Bookmark, Chapter, ChapterKind, RecordingDetails, RecordingMeta, RecordingSummary } from './types.js';
import { vodEntryLines, vodTargetDuration, writeVodPlaylist, type VodEntry } from './vod-playlist.js';
import { SerialQueue, type RecordingOp } from './write-queue.js';

export interface RecorderOptions {
  id: string;
  stream: string;
  /** The recording's own directory (<recordings dir>/<id>), already checked by recordingPath(). */
  dir: string;
  startedAt: Date;
  hub: AnnotationHub;
  log: FastifyBaseLogger;
  onError: (op: RecordingOp, error: unknown) => void;
  /** Media bytes that may wait for the disk before segments are dropped. */
  maxPendingBytes: number;
  /** How often to look for the stream's rendition until it exists (the realtime feed can start a stream first), ms. */
  renditionPollMs: number;
  /** Meta is rewritten at most this often while segments arrive (always on lifecycle and API changes), ms. */
  metaIntervalMs: number;
  now?: () => number;
}

export type RecorderState = 'live' | 'ended' | 'closed';

const CHAPTER_LABELS: Record<Exclude<ChapterKind, 'manual'>, string> = {
  start: 'Start',
  discontinuity: 'Encoder restart',
  reconnect: 'Publisher reconnected',
};

export class Recorder {
  readonly id: string;
  readonly stream: string;
  readonly #dir: string;
  readonly #hub: AnnotationHub;
  readonly #log: FastifyBaseLogger;
  readonly #queue: SerialQueue;
  readonly #onError: RecorderOptions['onError'];
  readonly #renditionPollMs: number;
  readonly #metaIntervalMs: number;
  readonly #now: () => number;
  readonly #meta: RecordingMeta;
  readonly #chapters: Chapter[] = [];
  /** Committed entries: their files are on disk. */
  readonly #entries: VodEntry[] = [];
  readonly #seen = new WeakSet<Segment>();
  readonly #writtenInits = new Set<number>();
  #state: RecorderState = 'live';
  #closing: Promise<void> | null = null;
  #unsubscribeHub: (() => void) | null = null;
  #stream: LiveStream | null = null;
  #rendition: Rendition | null = null;
  #offSegment: (() => void) | null = null;
  #pollTimer: NodeJS.Timeout | null = null;
  // Planning state (synchronous, in event order).
  #attachCount = 0;
  #sourceKey: string | null = null;
  #generation = -1;
  #nextIndex = 0;
  #nextChapter: Exclude<ChapterKind, 'manual'> | null = null;
  #lastEndMs: number | null = null;
  // Commit state (inside queue tasks).
  #gapPending = false;
  #playlistTarget = -1;
  #playlistEnded = false;
  #lastMetaWrite = 0;
  #annotationLines: string[] = [];

  constructor(options: RecorderOptions) {
    this.id = options.id;
    this.stream = options.stream;
    this.#dir = options.dir;
    this.#hub = options.hub;
    this.#log = options.log;
    this.#renditionPollMs = options.renditionPollMs;
    this.#metaIntervalMs = options.metaIntervalMs;
    this.#now = options.now ?? (() => Date.now());
    this.#onError = options.onError;
    this.#queue = new SerialQueue({ maxPendingBytes: options.maxPendingBytes, onError: options.onError });
    this.#meta = {
      version: 1,
      id: options.id,
      stream: options.stream,
      title: null,
      procedure: null,
      startedAt: options.startedAt.toISOString(),
      endedAt: null,
      mediaStartMs: null,
      durationSec: 0,
      segments: 0,
      bytes: 0,
      bookmarks: [],
    };
  }

  get state(): RecorderState {
    return this.#state;
  }

  get live(): boolean {
    return this.#state === 'live';
  }

  /** Creates the directory and files, subscribes to the annotation hub, attaches to the stream. */
  start(stream: LiveStream): void {
    this.#queue.push('open', async () => {
      await mkdir(this.#dir, { recursive: true });
      await writeFile(join(this.#dir, 'annotations.jsonl'), '', { flag: 'a' });
      await this.#writePlaylist(false);
      await this.#writeChapters();
      await this.#writeMeta();
    });
    try {
      this.#unsubscribeHub = this.#hub.subscribe(this.stream, (event) => this.#onAnnotation(event));
    } catch (error) {
      this.#log.warn({ err: error }, 'could not subscribe to annotations; recording media only');
    }
    this.#attach(stream);
  }

  /** The stream ended: the playlist becomes VOD with ENDLIST. It may still resume(). */
  end(): void {
    if (this.#state !== 'live') return;
    this.#detach();
    this.#state = 'ended';
    this.#meta.endedAt = new Date(this.#now()).toISOString();
    this.#queue.push('playlist', () => this.#writePlaylist(true));
    this.#queue.push('meta', () => this.#writeMeta());
  }

  /** The same stream is live again (publisher reconnected): keep recording into this case. */
  resume(stream: LiveStream): void {
    if (this.#state !== 'ended') return;
    this.#state = 'live';
    this.#meta.endedAt = null;
    this.#queue.push('playlist', () => this.#writePlaylist(false));
    this.#queue.push('meta', () => this.#writeMeta());
    this.#attach(stream);
  }

  /**
   * Finishes the recording: a stream still live (origin shutting down) gets its open segment
   * written and the playlist ended; then every pending write completes. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  summary(): RecordingSummary {
    const m = this.#meta;
    return { id: m.id, stream: m.stream, title: m.title, procedure: m.procedure, startedAt: m.startedAt, durationSec: m.durationSec, live: this.live };
  }

  details(): RecordingDetails {
    return { ...structuredClone(this.#meta), live: this.live, chapters: sortChapters(this.#chapters) };
  }

  /** API changes: applied at once, resolved when on disk. */
  patch(patch: MetaPatch): Promise<RecordingDetails> {
    if (patch.title !== undefined) this.#meta.title = patch.title;
    if (patch.procedure !== undefined) this.#meta.procedure = patch.procedure;
    return this.#queue.run('meta', async () => {
      await this.#writeMeta();
      return this.details();
    });
  }

  addBookmark(mark: MarkInput, id: string): Promise<Bookmark> {
    if (this.#meta.bookmarks.length >= MAX_BOOKMARKS) throw new ScopecastError('SC_ERR_RECORDING_INVALID', `at most ${MAX_BOOKMARKS} bookmarks`);
    const bookmark: Bookmark = { id, atMs: mark.atMs, label: mark.label, createdAt: new Date(this.#now()).toISOString() };
    this.#meta.bookmarks.push(bookmark);
    return this.#queue.run('meta', async () => {
      await this.#writeMeta();
      return bookmark;
    });
  }

  addChapter(mark: MarkInput): Promise<Chapter> {
    if (this.#chapters.filter((c) => c.kind === 'manual').length >= MAX_MANUAL_CHAPTERS) {
      throw new ScopecastError('SC_ERR_RECORDING_INVALID', `at most ${MAX_MANUAL_CHAPTERS} chapters`);
    }
    const chapter: Chapter = { atMs: mark.atMs, label: mark.label, kind: 'manual' };
    this.#chapters.push(chapter);
    return this.#queue.run('chapters', async () => {
      await this.#writeChapters();
      return chapter;
    });
  }

  /** Resolves when every write queued so far is done (tests, shutdown). */
  settled(): Promise<void> {
    return this.#queue.drained();
  }

  // --- media ---------------------------------------------------------------------------------

  #attach(stream: LiveStream): void {
    this.#attachCount += 1;
    this.#nextChapter = this.#attachCount === 1 ? 'start' : 'reconnect';
    this.#stream = stream;
    // 'started' fires inside registry.begin(), just before the ingest handler creates the
    // rendition in the same tick: look once that tick is done.
    queueMicrotask(() => this.#findRendition(stream));
  }

  /** 'main' (what edges send), else the first rendition: one rendition is the recording. */
  #lookup(stream: LiveStream): Rendition | undefined {
    return stream.rendition('main') ?? stream.renditions[0];
  }

  #findRendition(stream: LiveStream): void {
    this.#pollTimer = null;
    if (this.#state !== 'live' || this.#stream !== stream || this.#rendition || stream.state !== 'live') return;
    const rendition = this.#lookup(stream);
    if (!rendition) {
      // LiveStream has no "rendition added" event, and the realtime feed can start a stream
      // before its LL-HLS init arrives: look again shortly.
      this.#pollTimer = setTimeout(() => this.#findRendition(stream), this.#renditionPollMs);
      this.#pollTimer.unref();
      return;
    }
    this.#rendition = rendition;
    this.#catchUp(rendition);
    const onSegment = (segment: Segment, init: Buffer): void => this.#onSegment(segment, init);
    rendition.on('segment', onSegment);
    this.#offSegment = () => rendition.off('segment', onSegment);
  }

  /** Segments that completed before we were listening are still in the rendition's window. */
  #catchUp(rendition: Rendition): void {
    for (const segment of rendition.store.segments) {
      const init = rendition.init(segment.generation);
      if (segment.complete && init) this.#onSegment(segment, init);
    }
  }

  #detach(): void {
    // A stream that ended before we found its rendition still left its segments there.
    const stream = this.#stream;
    const late = !this.#rendition && stream ? this.#lookup(stream) : undefined;
    if (late && this.#state === 'live') this.#catchUp(late);
    this.#stream = null;
    if (this.#pollTimer) clearTimeout(this.#pollTimer);
    this.#pollTimer = null;
    this.#offSegment?.();
    this.#offSegment = null;
    this.#rendition = null;
  }

  #onSegment(segment: Segment, init: Buffer): void {
    if (this.#state !== 'live' || this.#seen.has(segment)) return;
    this.#seen.add(segment);
    const data = segment.data ?? Buffer.concat(segment.parts.map((p) => p.data));
    if (data.length === 0) return;
    const key = `${this.#attachCount}:${segment.generation}`;
    const newInit = key !== this.#sourceKey;
    if (newInit) {
      this.#sourceKey = key;
      this.#generation += 1;
    }
    const first = this.#nextIndex === 0;
    // The ingest wall clock of the first frame; without a prft, continue from the previous segment.
    const pdt = segment.parts[0]?.wallClockMs ?? this.#lastEndMs ?? this.#now() - segment.duration * 1000;
    this.#lastEndMs = pdt + segment.duration * 1000;
    const entry: VodEntry = {
      index: this.#nextIndex,
      generation: this.#generation,
      duration: segment.duration,
      programDateTimeMs: pdt,
      discontinuity: newInit && !first,
    };
    let chapter: Chapter | null = null;
    if (newInit) {
      const kind = this.#nextChapter ?? 'discontinuity';
      chapter = { atMs: Math.round(pdt), label: CHAPTER_LABELS[kind], kind };
      this.#nextChapter = null;
    }
    const generation = this.#generation;
    const queued = this.#queue.push('segment', () => this.#commitSegment(entry, data, init, generation, chapter), data.length);
    if (queued) {
      this.#nextIndex += 1;
    } else {
      // Dropped for backlog: the next segment written starts a new init and a discontinuity.
      this.#sourceKey = null;
      this.#queue.push('segment', async () => {
        this.#gapPending = true;
      });
    }
  }

  async #commitSegment(entry: VodEntry, data: Buffer, init: Buffer, generation: number, chapter: Chapter | null): Promise<void> {
    try {
      if (!this.#writtenInits.has(generation)) {
        await writeFile(join(this.#dir, initUri(generation)), init);
        this.#writtenInits.add(generation);
      }
      await writeFile(join(this.#dir, segmentUri(entry.index)), data);
    } catch (error) {
      this.#gapPending = true;
      throw error;
    }
    const committed: VodEntry = { ...entry, discontinuity: entry.discontinuity || (this.#gapPending && this.#entries.length > 0) };
    this.#gapPending = false;
    this.#entries.push(committed);
    const meta = this.#meta;
    meta.segments += 1;
    meta.bytes += data.length;
    meta.durationSec = Math.round((meta.durationSec + entry.duration) * 1000) / 1000;
    meta.mediaStartMs ??= Math.round(entry.programDateTimeMs);
    if (chapter) this.#chapters.push(chapter);
    await this.#guard('playlist', () => this.#appendToPlaylist(committed));
    if (chapter) await this.#guard('chapters', () => this.#writeChapters());
    if (this.#now() - this.#lastMetaWrite >= this.#metaIntervalMs) await this.#guard('meta', () => this.#writeMeta());
  }

  /** Shutdown while live: the open segment has no successor, so write what has arrived of it. */
  #flushOpenSegment(): void {
    const rendition = this.#rendition ?? (this.#stream ? this.#lookup(this.#stream) : undefined);
    if (rendition && !this.#rendition) this.#catchUp(rendition);
    const open = rendition?.store.segments.at(-1);
    const init = open ? rendition?.init(open.generation) : undefined;
    if (!open || open.complete || open.parts.length === 0 || !init) return;
    this.#onSegment({ ...open, parts: [...open.parts], data: Buffer.concat(open.parts.map((p) => p.data)) }, init);
  }

  // --- annotations ---------------------------------------------------------------------------

  #onAnnotation(event: AnnotationEvent): void {
    if (this.#state === 'closed') return;
    // Bursts (a stroke being drawn) become one append; order is the hub's.
    this.#annotationLines.push(JSON.stringify(event));
    if (this.#annotationLines.length > 1) return;
    this.#queue.push('annotations', async () => {
      const lines = this.#annotationLines;
      this.#annotationLines = [];
      await appendFile(join(this.#dir, 'annotations.jsonl'), lines.join('\n') + '\n');
    });
  }

  // --- files ---------------------------------------------------------------------------------

  async #appendToPlaylist(entry: VodEntry): Promise<void> {
    const target = vodTargetDuration(this.#entries);
    if (target !== this.#playlistTarget || this.#playlistEnded) {
      // Keeps the file's EVENT/VOD state: only end() and resume() change it.
      await this.#writePlaylist(this.#playlistEnded);
      return;
    }
    // EVENT playlists only grow: append, instead of rewriting hours of segments every second.
    this.#playlistTarget = -1; // a failed append forces a full rewrite next time
    await appendFile(join(this.#dir, 'playlist.m3u8'), vodEntryLines(entry, this.#entries.at(-2)));
    this.#playlistTarget = target;
  }

  async #writePlaylist(ended: boolean): Promise<void> {
    this.#playlistTarget = -1;
    await writeFileAtomic(join(this.#dir, 'playlist.m3u8'), writeVodPlaylist(this.#entries, { ended }));
    this.#playlistTarget = vodTargetDuration(this.#entries);
    this.#playlistEnded = ended;
  }

  async #writeChapters(): Promise<void> {
    await writeFileAtomic(join(this.#dir, 'chapters.json'), JSON.stringify(sortChapters(this.#chapters), null, 1) + '\n');
  }

  async #writeMeta(): Promise<void> {
    this.#lastMetaWrite = this.#now();
    await writeFileAtomic(join(this.#dir, 'meta.json'), JSON.stringify(this.#meta, null, 1) + '\n');
  }

  /** A failed side file is reported under its own name; the segment itself stays committed. */
  async #guard(op: RecordingOp, write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (error) {
      this.#onError(op, error);
    }
  }

  async #close(): Promise<void> {
    if (this.#state === 'live') {
      this.#flushOpenSegment();
      this.end();
    }
    this.#detach();
    this.#unsubscribeHub?.();
    this.#unsubscribeHub = null;
    this.#state = 'closed';
    // The meta interval may have skipped the last segments' totals.
    this.#queue.push('meta', () => this.#writeMeta());
    await this.#queue.drained();
    this.#log.debug({ segments: this.#meta.segments, bytes: this.#meta.bytes }, 'recording closed');
  }
}
