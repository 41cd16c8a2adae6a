// The recordings API from the page: same-origin fetches with a timeout and the page's token, and
// shape checks on what comes back (the page renders only what passes them; text goes in through
// textContent anyway). A refusal keeps its HTTP status: 401/403 is the page's access, not a glitch.
import { parseAnnotation, type AnnotationEvent, type AnnotatorRole } from '../../lib/annotations.js';
import type { Bookmark, Chapter, LibraryError, RecordingDetails, RecordingSummary } from './types.js';

export class LibraryFailure extends Error {
  readonly info: LibraryError;
  constructor(info: LibraryError) {
    super(info.details);
    this.info = info;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStrOrNull = (v: unknown): v is string | null => v === null || typeof v === 'string';
const ROLES: readonly AnnotatorRole[] = ['expert', 'surgeon', 'trainee', 'probe'];

export function isRecordingSummary(v: unknown): v is RecordingSummary {
  return isObject(v) && typeof v.id === 'string' && typeof v.stream === 'string' && isStrOrNull(v.title) && isStrOrNull(v.procedure)
    && typeof v.startedAt === 'string' && isNum(v.durationSec) && typeof v.live === 'boolean';
}

function isMark(v: unknown): v is Chapter | Bookmark {
  return isObject(v) && isNum(v.atMs) && typeof v.label === 'string';
}

export function isRecordingDetails(v: unknown): v is RecordingDetails {
  return isRecordingSummary(v) && isObject(v) && (v.mediaStartMs === null || isNum(v.mediaStartMs))
    && Array.isArray(v.chapters) && v.chapters.every(isMark)
    && Array.isArray(v.bookmarks) && v.bookmarks.every((b) => isMark(b) && typeof (b as Bookmark).id === 'string');
}

/** annotations.jsonl: one AnnotationEvent per line; a line that does not check out is skipped. */
export function parseAnnotationTrack(text: string): AnnotationEvent[] {
  const events: AnnotationEvent[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      continue;
    }
    if (!isObject(value) || !isNum(value.seq) || typeof value.stream !== 'string' || typeof value.author !== 'string'
      || !ROLES.includes(value.role as AnnotatorRole) || !isNum(value.receivedAt)) continue;
    const parsed = parseAnnotation(value.annotation);
    if (!parsed.ok) continue;
    events.push({ seq: value.seq, stream: value.stream, author: value.author, role: value.role as AnnotatorRole, receivedAt: value.receivedAt, annotation: parsed.annotation });
  }
  return events;
}

export interface RecordingsApiOptions {
  /** e.g. '/api/recordings' */
  apiUrl: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
  /** Headers for every request (the access token), read per request. */
  headers?: () => Record<string, string>;
}

export class RecordingsApi {
  readonly #apiUrl: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;
  readonly #headers: () => Record<string, string>;

  constructor(options: RecordingsApiOptions) {
    this.#apiUrl = options.apiUrl;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    // Bound: a bare `fetch` called as a method of this object throws "Illegal invocation".
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#headers = options.headers ?? (() => ({}));
  }

  async list(): Promise<RecordingSummary[]> {
    const body = await this.#json(this.#apiUrl);
    const rows = isObject(body) ? body.recordings : undefined;
    if (!Array.isArray(rows) || !rows.every(isRecordingSummary)) throw parseFailure('malformed recording list');
    return rows;
  }

  async get(id: string): Promise<RecordingDetails> {
    const body = await this.#json(`${this.#apiUrl}/${encodeURIComponent(id)}`);
    if (!isRecordingDetails(body)) throw parseFailure('malformed recording');
    return body;
  }

  async addBookmark(id: string, mark: { atMs: number; label: string }): Promise<Bookmark> {
    const body = await this.#json(`${this.#apiUrl}/${encodeURIComponent(id)}/bookmarks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(mark),
    });
    const bookmark = isObject(body) ? body.bookmark : undefined;
    if (!isMark(bookmark) || typeof (bookmark as Bookmark).id !== 'string') throw parseFailure('malformed bookmark');
    return bookmark as Bookmark;
  }

  async annotations(url: string): Promise<AnnotationEvent[]> {
    return parseAnnotationTrack(await (await this.#request(url)).text());
  }

  async #json(url: string, init: RequestInit = {}): Promise<unknown> {
    const response = await this.#request(url, init);
    try {
      return (await response.json()) as unknown;
    } catch {
      throw parseFailure('not JSON');
    }
  }

  async #request(url: string, init: RequestInit = {}): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    let response: Response;
    try {
      const headers = { ...this.#headers(), ...(init.headers as Record<string, string> | undefined) };
      response = await this.#fetch(url, { ...init, headers, signal: controller.signal, cache: 'no-store' });
    } catch (cause) {
      const details = controller.signal.aborted ? 'timeout' : cause instanceof Error ? cause.message : String(cause);
      throw new LibraryFailure({ type: 'networkError', details, fatal: false });
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) {
      // The origin's errors are data: {code, message}; show the message when there is one.
      const body: unknown = await response.json().catch(() => null);
      const message = isObject(body) && typeof body.message === 'string' ? body.message : `HTTP ${response.status}`;
      const code = isObject(body) && typeof body.code === 'string' ? body.code : undefined;
      throw new LibraryFailure({ type: 'httpError', details: message, fatal: false, httpStatus: response.status, ...(code ? { code } : {}) });
    }
    return response;
  }
}

function parseFailure(details: string): LibraryFailure {
  return new LibraryFailure({ type: 'parseError', details, fatal: false });
}

export function toLibraryError(error: unknown): LibraryError {
  if (error instanceof LibraryFailure) return error.info;
  return { type: 'networkError', details: error instanceof Error ? error.message : String(error), fatal: false };
}
