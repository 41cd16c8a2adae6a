// Checks on what clients send (title, procedure, marks) and on what is read back from disk.
// Pure: input in, value or a coded error out.
import { ScopecastError } from '../../lib/errors.js';
import type { Bookmark, Chapter, ChapterKind, RecordingMeta } from './types.js';

export const MAX_TITLE_LENGTH = 120;
export const MAX_PROCEDURE_LENGTH = 80;
export const MAX_LABEL_LENGTH = 120;
export const MAX_BOOKMARKS = 500;
/** Manual chapters; automatic ones (start, restarts, reconnects) are not capped. */
export const MAX_MANUAL_CHAPTERS = 500;
/** Same bound as an annotation's mediaTime. */
const MAX_TIME_MS = 1e14;
// C0/C1 controls, line/paragraph separators and bidi overrides: none belongs in a label, and
// they could break a log line or make one name display as another.
const FORBIDDEN_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const CHAPTER_KINDS: readonly ChapterKind[] = ['start', 'discontinuity', 'reconnect', 'manual'];

const invalid = (detail: string): ScopecastError => new ScopecastError('SC_ERR_RECORDING_INVALID', detail);
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string`);
  const trimmed = value.trim();
  if (trimmed.length > max) throw invalid(`${field} must be at most ${max} characters`);
  if (FORBIDDEN_CHARS.test(trimmed)) throw invalid(`${field} must not contain control characters`);
  return trimmed;
}

function onlyFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  const extra = Object.keys(body).find((k) => !allowed.includes(k));
  if (extra !== undefined) throw invalid(`unknown field ${JSON.stringify(extra.slice(0, 40))}`);
}

export interface MetaPatch {
  title?: string | null;
  procedure?: string | null;
}

/** PATCH body: title and/or procedure; '' or null clears one. */
export function parseMetaPatch(body: unknown): MetaPatch {
  if (!isObject(body)) throw invalid('send a JSON object');
  onlyFields(body, ['title', 'procedure']);
  const patch: MetaPatch = {};
  if (body.title !== undefined) patch.title = body.title === null ? null : text(body.title, 'title', MAX_TITLE_LENGTH) || null;
  if (body.procedure !== undefined) {
    patch.procedure = body.procedure === null ? null : text(body.procedure, 'procedure', MAX_PROCEDURE_LENGTH) || null;
  }
  if (patch.title === undefined && patch.procedure === undefined) throw invalid('send title and/or procedure');
  return patch;
}

export interface MarkInput {
  atMs: number;
  label: string;
}

const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= MAX_TIME_MS;

/** POST body of a bookmark or a manual chapter. */
export function parseMark(body: unknown): MarkInput {
  if (!isObject(body)) throw invalid('send a JSON object');
  onlyFields(body, ['atMs', 'label']);
  if (!isTime(body.atMs)) throw invalid('atMs must be a media time in Unix ms');
  const label = text(body.label, 'label', MAX_LABEL_LENGTH);
  if (label === '') throw invalid('label must not be empty');
  return { atMs: Math.round(body.atMs), label };
}

const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max && !FORBIDDEN_CHARS.test(v);
const isNullableText = (v: unknown, max: number): v is string | null => v === null || isText(v, max);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

function isBookmark(v: unknown): v is Bookmark {
  return isObject(v) && typeof v.id === 'string' && /^[0-9a-f]{1,32}$/.test(v.id) && isTime(v.atMs)
    && isText(v.label, MAX_LABEL_LENGTH) && typeof v.createdAt === 'string';
}

function isChapter(v: unknown): v is Chapter {
  return isObject(v) && isTime(v.atMs) && isText(v.label, MAX_LABEL_LENGTH) && CHAPTER_KINDS.includes(v.kind as ChapterKind);
}

/** meta.json as read back; null when it is not one of ours (then the directory is ignored). */
export function parseStoredMeta(value: unknown, expectedId: string): RecordingMeta | null {
  if (!isObject(value) || value.version !== 1 || value.id !== expectedId || typeof value.stream !== 'string') return null;
  if (!isNullableText(value.title, MAX_TITLE_LENGTH) || !isNullableText(value.procedure, MAX_PROCEDURE_LENGTH)) return null;
  if (typeof value.startedAt !== 'string' || !Number.isFinite(Date.parse(value.startedAt))) return null;
  if (value.endedAt !== null && typeof value.endedAt !== 'string') return null;
  if (value.mediaStartMs !== null && !isTime(value.mediaStartMs)) return null;
  if (!isCount(value.durationSec) || !isCount(value.segments) || !isCount(value.bytes)) return null;
  if (!Array.isArray(value.bookmarks) || !value.bookmarks.every(isBookmark)) return null;
  return {
    version: 1,
    id: value.id,
    stream: value.stream,
    title: value.title,
    procedure: value.procedure,
    startedAt: value.startedAt,
    endedAt: value.endedAt,
    mediaStartMs: value.mediaStartMs,
    durationSec: value.durationSec,
    segments: value.segments,
    bytes: value.bytes,
    bookmarks: value.bookmarks.map((b) => ({ id: b.id, atMs: b.atMs, label: b.label, createdAt: b.createdAt })),
  };
}

/** chapters.json as read back; what does not parse is dropped. */
export function parseStoredChapters(value: unknown): Chapter[] {
  if (!Array.isArray(value)) return [];
  return value.filter(isChapter).map((c) => ({ atMs: c.atMs, label: c.label, kind: c.kind }));
}

/** Chapters in media-time order (stable: equal times keep the order they were added in). */
export function sortChapters(chapters: readonly Chapter[]): Chapter[] {
  return [...chapters].sort((a, b) => a.atMs - b.atMs);
}
