// The library pages' vocabulary: the recordings API contract (owned by the origin; type-only
// import, erased from the bundle), the replay page's events and its test/devtools mirror.
import type { AnnotationEvent } from '../../lib/annotations.js';
import type { Bookmark, RecordingDetails, RecordingSummary } from '../../origin/recording/types.js';
import type { TimelineFragment } from './media-time.js';

export type { Bookmark, Chapter, ChapterKind, RecordingDetails, RecordingSummary } from '../../origin/recording/types.js';

/** A failure, as data: the status line shows it. */
export interface LibraryError {
  type: 'networkError' | 'httpError' | 'parseError' | 'mediaError';
  details: string;
  fatal: boolean;
  /** The HTTP status of a refused request (401/403: the page's token). */
  httpStatus?: number;
  /** The origin's error code, when it answered with one. */
  code?: string;
}

export interface LibraryEvents extends Record<string, unknown[]> {
  /** GET /api/recordings/:id answered (again, after a change). */
  details: [details: RecordingDetails];
  /** annotations.jsonl loaded and checked. */
  annotations: [events: AnnotationEvent[]];
  /** The playlist is loaded: media time can be mapped. */
  timeline: [fragments: readonly TimelineFragment[]];
  'bookmark-added': [bookmark: Bookmark];
  error: [error: LibraryError];
}

/** window.__scopecastLibrary: read-only by contract (tests, devtools). */
export interface LibraryDebugSnapshot {
  page: 'list' | 'replay';
  /** List page: ids shown, newest first. */
  cases: string[];
  details: RecordingDetails | null;
  annotations: number;
  fragments: number;
  /** Media time of the frame at the playhead, Unix ms, as of the last overlay frame. */
  playheadMs: number | null;
  /** Ids drawn on the overlay in the last frame. */
  drawn: string[];
  /** The picture's rectangle on the overlay canvas, CSS px. */
  picture: { x: number; y: number; width: number; height: number } | null;
  errors: LibraryError[];
  summaries: RecordingSummary[];
}
