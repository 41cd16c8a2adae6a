// The recordings of one origin: a Recorder per live stream (created on the registry's 'started'),
// the grace time in which a reconnecting publisher continues its case, the API's reads and
// changes (serialised per recording), deletion and the retention sweep.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';
import type { OriginConfig } from '../../configs/index.js';
import { InvalidStateError, ScopecastError } from '../../lib/errors.js';
import type { AnnotationHub } from '../annotations/hub.js';
import type { OriginMetrics } from '../metrics.js';
import type { LiveStream } from '../streams/live-stream.js';
import type { StreamRegistry } from '../streams/registry.js';
import { readJson, writeFileAtomic, isNotFound } from './files.js';
import { isRecordingId, newRecordingId, recordingPath } from './ids.js';
import { MAX_BOOKMARKS, MAX_MANUAL_CHAPTERS, parseStoredChapters, parseStoredMeta, sortChapters, type MarkInput, type MetaPatch } from './model.js';
import { Recorder } from './recorder.js';
import type { Bookmark, Chapter, RecordingDetails, RecordingMeta, RecordingSummary } from './types.js';
import type { RecordingOp } from './write-queue.js';

export interface RecordingServiceOptions {
  config: Pick<OriginConfig, 'recordings'>;
  registry: StreamRegistry;
  hub: AnnotationHub;
  metrics: OriginMetrics;
  log: FastifyBaseLogger;
  /** A stream that goes live again within this time continues its recording (chapter "reconnect"), ms. */
  reconnectGraceMs?: number;
  /** How often old recordings are swept, ms (first sweep right after start). */
  sweepIntervalMs?: number;
  /** Media bytes per recording that may wait for the disk before segments are dropped. */
  maxPendingBytes?: number;
  now?: () => number;
}

export const DEFAULT_RECONNECT_GRACE_MS = 30_000;
const DAY_MS = 86_400_000;
/** Errors of one kind are logged at most this often (a dead disk fails every segment). */
const LOG_INTERVAL_MS = 10_000;

export class RecordingService {
  readonly root: string;
  readonly #enabled: boolean;
  readonly #retentionDays: number;
  readonly #registry: StreamRegistry;
  readonly #hub: AnnotationHub;
  readonly #metrics: OriginMetrics;
  readonly #log: FastifyBaseLogger;
  readonly #reconnectGraceMs: number;
  readonly #maxPendingBytes: number;
  readonly #now: () => number;
  /** Recordings held in memory: live, or ended and within the reconnect grace. */
  readonly #recorders = new Map<string, Recorder>();
  /** stream name -> its recording while live or in grace. */
  readonly #byStream = new Map<string, Recorder>();
  readonly #graceTimers = new Map<string, NodeJS.Timeout>();
  readonly #locks = new Map<string, Promise<unknown>>();
  readonly #lastLogged = new Map<string, number>();
  readonly #offRegistry: Array<() => void> = [];
  readonly #ready: Promise<void>;
  #sweepTimer: NodeJS.Timeout | null = null;
  #closed: Promise<void> | null = null;

  constructor(options: RecordingServiceOptions) {
    const { recordings } = options.config;
    this.root = resolve(recordings.dir);
    this.#enabled = recordings.enabled;
    this.#retentionDays = recordings.retentionDays;
    this.#registry = options.registry;
    this.#hub = options.hub;
    this.#metrics = options.metrics;
    this.#log = options.log;
    this.#reconnectGraceMs = options.reconnectGraceMs ?? DEFAULT_RECONNECT_GRACE_MS;
    this.#maxPendingBytes = options.maxPendingBytes ?? 64 * 1024 * 1024;
    this.#now = options.now ?? (() => Date.now());

    this.#ready = mkdir(this.root, { recursive: true }).then(
      () => undefined,
      (error: unknown) => this.#report('open', error),
    );
    if (this.#enabled) {
      const onStarted = (stream: LiveStream): void => this.#onStarted(stream);
      const onEnded = (stream: LiveStream): void => this.#onEnded(stream);
      this.#registry.on('started', onStarted);
      this.#registry.on('ended', onEnded);
      this.#offRegistry.push(() => this.#registry.off('started', onStarted), () => this.#registry.off('ended', onEnded));
    }
    if (this.#retentionDays > 0) {
      const interval = options.sweepIntervalMs ?? 3_600_000;
      const sweep = (): void => {
        this.sweep().catch((error: unknown) => this.#report('retention', error));
      };
      this.#sweepTimer = setInterval(sweep, interval);
      this.#sweepTimer.unref();
      void this.#ready.then(() => {
        if (!this.#closed) sweep();
      });
    }
  }

  /** Is this recording being written right now (its stream is live)? */
  isLive(id: string): boolean {
    return this.#recorders.get(id)?.live ?? false;
  }

  /** Live, or ended but still within the reconnect grace (its recorder is still in memory). */
  isHeld(id: string): boolean {
    return this.#recorders.has(id);
  }

  /** Newest first. Directories without a readable meta.json are skipped. */
  async list(): Promise<RecordingSummary[]> {
    this.#assertOpen();
    const rows: RecordingSummary[] = [];
    for (const id of await this.#ids()) {
      const recorder = this.#recorders.get(id);
      if (recorder) {
        rows.push(recorder.summary());
        continue;
      }
      const meta = await this.#readMeta(id).catch(() => null);
      if (!meta) continue;
      rows.push({ id, stream: meta.stream, title: meta.title, procedure: meta.procedure, startedAt: meta.startedAt, durationSec: meta.durationSec, live: false });
    }
    return rows.sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.id < b.id ? 1 : -1));
  }

  async get(id: string): Promise<RecordingDetails> {
    this.#assertOpen();
    const recorder = this.#recorders.get(this.#checkId(id));
    if (recorder) return recorder.details();
    const meta = await this.#requireMeta(id);
    return { ...meta, live: false, chapters: await this.#readChapters(id) };
  }

  patch(id: string, patch: MetaPatch): Promise<RecordingDetails> {
    return this.#withLock(this.#checkId(id), async () => {
      const recorder = this.#recorders.get(id);
      if (recorder) return recorder.patch(patch);
      const meta = await this.#requireMeta(id);
      if (patch.title !== undefined) meta.title = patch.title;
      if (patch.procedure !== undefined) meta.procedure = patch.procedure;
      await this.#writeMeta(id, meta);
      return { ...meta, live: false, chapters: await this.#readChapters(id) };
    });
  }

  addBookmark(id: string, mark: MarkInput): Promise<Bookmark> {
    return this.#withLock(this.#checkId(id), async () => {
      const bookmarkId = randomBytes(8).toString('hex');
      const recorder = this.#recorders.get(id);
      if (recorder) return recorder.addBookmark(mark, bookmarkId);
      const meta = await this.#requireMeta(id);
      if (meta.bookmarks.length >= MAX_BOOKMARKS) throw new ScopecastError('SC_ERR_RECORDING_INVALID', `at most ${MAX_BOOKMARKS} bookmarks`);
      const bookmark: Bookmark = { id: bookmarkId, atMs: mark.atMs, label: mark.label, createdAt: new Date(this.#now()).toISOString() };
      meta.bookmarks.push(bookmark);
      await this.#writeMeta(id, meta);
      return bookmark;
    });
  }

  addChapter(id: string, mark: MarkInput): Promise<Chapter> {
    return this.#withLock(this.#checkId(id), async () => {
      const recorder = this.#recorders.get(id);
      if (recorder) return recorder.addChapter(mark);
      await this.#requireMeta(id);
      const chapters = await this.#readChapters(id);
      if (chapters.filter((c) => c.kind === 'manual').length >= MAX_MANUAL_CHAPTERS) {
        throw new ScopecastError('SC_ERR_RECORDING_INVALID', `at most ${MAX_MANUAL_CHAPTERS} chapters`);
      }
      const chapter: Chapter = { atMs: mark.atMs, label: mark.label, kind: 'manual' };
      chapters.push(chapter);
      await writeFileAtomic(this.#path(id, 'chapters.json'), JSON.stringify(sortChapters(chapters), null, 1) + '\n');
      return chapter;
    });
  }

  /** Deletes a recording that is not live (409 while it is). Authorisation is the caller's. */
  delete(id: string): Promise<void> {
    return this.#withLock(this.#checkId(id), async () => {
      const recorder = this.#recorders.get(id);
      if (recorder?.live) throw new ScopecastError('SC_ERR_RECORDING_LIVE', id);
      if (recorder) await this.#finalize(recorder, true);
      await this.#requireMeta(id);
      await this.#remove(id);
    });
  }

  /**
   * Path of a servable file (playlist, init, segment, annotations) of an existing recording, or
   * null when the id or the name is not allowed. Never touches the disk.
   */
  filePath(id: string, file: string): string | null {
    return recordingPath(this.root, id, file);
  }

  /** Deletes recordings (not live, not in grace) that started more than retentionDays ago. */
  async sweep(now = this.#now()): Promise<string[]> {
    if (this.#retentionDays <= 0 || this.#closed) return [];
    const cutoff = now - this.#retentionDays * DAY_MS;
    const deleted: string[] = [];
    for (const id of await this.#ids()) {
      if (this.#recorders.has(id)) continue;
      const meta = await this.#readMeta(id).catch(() => null);
      if (!meta || Date.parse(meta.startedAt) >= cutoff) continue;
      await this.#withLock(id, async () => {
        if (this.#recorders.has(id)) return;
        await this.#remove(id);
        deleted.push(id);
      }).catch((error: unknown) => this.#report('retention', error));
    }
    if (deleted.length > 0) this.#log.info({ deleted }, 'retention: old recordings deleted');
    return deleted;
  }

  /** Resolves when every recording in memory has written what it was given so far. */
  async settled(): Promise<void> {
    await Promise.all([...this.#recorders.values()].map((r) => r.settled()));
  }

  /** Stops recording: every recorder finishes (playlists ended), timers stop. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= this.#close();
    return this.#closed;
  }

  async #close(): Promise<void> {
    for (const off of this.#offRegistry) off();
    if (this.#sweepTimer) clearInterval(this.#sweepTimer);
    for (const timer of this.#graceTimers.values()) clearTimeout(timer);
    this.#graceTimers.clear();
    await Promise.all([...this.#recorders.values()].map((r) => this.#withLock(r.id, () => this.#finalize(r, false)).catch(() => undefined)));
  }

  // --- stream lifecycle ----------------------------------------------------------------------

  #onStarted(stream: LiveStream): void {
    // A stream pulled from another origin of the cluster is recorded there, once.
    if (this.#closed || stream.relayedFrom) return;
    const previous = this.#byStream.get(stream.name);
    if (previous && previous.state === 'ended') {
      clearTimeout(this.#graceTimers.get(previous.id));
      this.#graceTimers.delete(previous.id);
      previous.resume(stream);
      this.#log.info({ recording: previous.id, stream: stream.name }, 'recording resumed (publisher reconnected)');
      return;
    }
    if (previous?.live) return;
    let id = '';
    let dir: string | null = null;
    // Random suffix: collisions only within one second of the same stream; never reuse a directory.
    for (let attempt = 0; attempt < 8 && dir === null; attempt++) {
      id = newRecordingId(stream.name, stream.startedAt);
      const candidate = recordingPath(this.root, id);
      if (candidate && !existsSync(candidate) && !this.#recorders.has(id)) dir = candidate;
    }
    if (dir === null) {
      this.#report('open', new Error(`no free recording id for ${stream.name}`));
      return;
    }
    const log = this.#log.child({ recording: id, stream: stream.name });
    const recorder = new Recorder({
      id,
      stream: stream.name,
      dir,
      startedAt: stream.startedAt,
      hub: this.#hub,
      log,
      onError: (op, error) => this.#report(op, error, log),
      maxPendingBytes: this.#maxPendingBytes,
      renditionPollMs: 100,
      metaIntervalMs: 5000,
      now: this.#now,
    });
    this.#recorders.set(id, recorder);
    this.#byStream.set(stream.name, recorder);
    recorder.start(stream);
    log.info('recording started');
  }

  #onEnded(stream: LiveStream): void {
    if (stream.relayedFrom) return;
    const recorder = this.#byStream.get(stream.name);
    if (!recorder?.live) return;
    recorder.end();
    const timer = setTimeout(() => {
      this.#graceTimers.delete(recorder.id);
      this.#withLock(recorder.id, () => this.#finalize(recorder, true)).catch((error: unknown) => this.#report('meta', error));
    }, this.#reconnectGraceMs);
    timer.unref();
    this.#graceTimers.set(recorder.id, timer);
  }

  /** The case is over: close the recorder and let go of it (and, after a real end, of the hub's log). */
  async #finalize(recorder: Recorder, forgetAnnotations: boolean): Promise<void> {
    clearTimeout(this.#graceTimers.get(recorder.id));
    this.#graceTimers.delete(recorder.id);
    await recorder.close();
    this.#recorders.delete(recorder.id);
    if (this.#byStream.get(recorder.stream) === recorder) {
      this.#byStream.delete(recorder.stream);
      // The hub keeps a stream's log "until it ended and was recorded": now it has been.
      if (forgetAnnotations) await this.#hub.forget(recorder.stream).catch((error: unknown) => this.#report('annotations', error));
    }
    this.#log.info({ recording: recorder.id }, 'recording finished');
  }

  // --- disk ----------------------------------------------------------------------------------

  async #ids(): Promise<string[]> {
    await this.#ready;
    try {
      const entries = await readdir(this.root, { withFileTypes: true });
      return entries.filter((e) => e.isDirectory() && isRecordingId(e.name)).map((e) => e.name);
    } catch (error) {
      if (isNotFound(error)) return [];
      this.#report('list', error);
      throw error;
    }
  }

  async #readMeta(id: string): Promise<RecordingMeta | null> {
    return parseStoredMeta(await readJson(this.#path(id, 'meta.json')), id);
  }

  async #requireMeta(id: string): Promise<RecordingMeta> {
    const meta = await this.#readMeta(id);
    if (!meta) throw new ScopecastError('SC_ERR_RECORDING_NOT_FOUND', id);
    return meta;
  }

  async #readChapters(id: string): Promise<Chapter[]> {
    return sortChapters(parseStoredChapters(await readJson(this.#path(id, 'chapters.json'))));
  }

  async #writeMeta(id: string, meta: RecordingMeta): Promise<void> {
    await writeFileAtomic(this.#path(id, 'meta.json'), JSON.stringify(meta, null, 1) + '\n');
  }

  async #remove(id: string): Promise<void> {
    const dir = recordingPath(this.root, id);
    if (!dir) throw new ScopecastError('SC_ERR_RECORDING_NOT_FOUND', id);
    try {
      await rm(dir, { recursive: true, force: true });
    } catch (error) {
      this.#report('delete', error);
      throw error;
    }
    this.#log.info({ recording: id }, 'recording deleted');
  }

  #path(id: string, file: string): string {
    const path = recordingPath(this.root, id, file);
    if (!path) throw new ScopecastError('SC_ERR_RECORDING_NOT_FOUND', id.slice(0, 100));
    return path;
  }

  #checkId(id: string): string {
    this.#assertOpen();
    if (!isRecordingId(id)) throw new ScopecastError('SC_ERR_RECORDING_INVALID', 'malformed recording id');
    return id;
  }

  #assertOpen(): void {
    if (this.#closed) throw new InvalidStateError('recording service');
  }

  /** One change at a time per recording, in arrival order. */
  #withLock<T>(id: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#locks.get(id) ?? Promise.resolve();
    const result = previous.then(task, task);
    const tail = result.catch(() => undefined);
    this.#locks.set(id, tail);
    void tail.then(() => {
      if (this.#locks.get(id) === tail) this.#locks.delete(id);
    });
    return result;
  }

  #report(op: RecordingOp, error: unknown, log: FastifyBaseLogger = this.#log): void {
    this.#metrics.recordingErrors.inc({ op });
    const now = Date.now();
    if (now - (this.#lastLogged.get(op) ?? 0) < LOG_INTERVAL_MS) return;
    this.#lastLogged.set(op, now);
    log.warn({ op, err: error }, 'recording write failed (counted in scopecast_recording_errors_total)');
  }
}
