// The JSON contract of the recordings API and of meta.json / chapters.json on disk. The origin
// writes it; the library page reads it (type-only import, erased from the bundle). Media times
// are ingest wall clocks on the origin clock, Unix ms: the same clock as EXT-X-PROGRAM-DATE-TIME
// and as every annotation's mediaTime, so a mark, a drawing and a frame line up on replay.

export type ChapterKind = 'start' | 'discontinuity' | 'reconnect' | 'manual';

export interface Chapter {
  /** Media time, Unix ms. */
  atMs: number;
  label: string;
  kind: ChapterKind;
}

export interface Bookmark {
  /** Random hex, unique within the recording. */
  id: string;
  /** Media time, Unix ms. */
  atMs: number;
  label: string;
  /** When it was added (origin clock, ISO 8601). */
  createdAt: string;
}

/** meta.json. No patient data: title and procedure are free text set by staff, length-limited. */
export interface RecordingMeta {
  version: 1;
  id: string;
  stream: string;
  title: string | null;
  procedure: string | null;
  /** ISO 8601, origin clock. */
  startedAt: string;
  endedAt: string | null;
  /** PROGRAM-DATE-TIME of the first segment, Unix ms; null until one is written. */
  mediaStartMs: number | null;
  durationSec: number;
  segments: number;
  bytes: number;
  bookmarks: Bookmark[];
}

/** One row of GET /api/recordings. */
export interface RecordingSummary {
  id: string;
  stream: string;
  title: string | null;
  procedure: string | null;
  startedAt: string;
  durationSec: number;
  live: boolean;
}

/** GET /api/recordings/:id. */
export interface RecordingDetails extends RecordingMeta {
  live: boolean;
  chapters: Chapter[];
}
