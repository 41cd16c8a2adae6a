// The recording's playlist (RFC 8216): EVENT while the stream is live (segments only ever get
// appended), VOD with EXT-X-ENDLIST once it ended. Every segment carries its
// EXT-X-PROGRAM-DATE-TIME, so replay knows each frame's ingest wall clock. Pure.
import { initUri, segmentUri } from '../hls/playlist.js';

export interface VodEntry {
  /** seg_<index>.m4s, from 0 with no gaps in numbering (a failed write leaves a discontinuity). */
  index: number;
  /** init_<generation>.mp4 of this segment. */
  generation: number;
  /** s */
  duration: number;
  /** Ingest wall clock of the segment's first frame, Unix ms. */
  programDateTimeMs: number;
  discontinuity: boolean;
}

/** EXT-X-TARGETDURATION: every EXTINF rounded to the nearest integer must fit (RFC 8216 4.3.3.1). */
export function vodTargetDuration(entries: readonly VodEntry[]): number {
  let max = 0;
  for (const e of entries) max = Math.max(max, e.duration);
  return Math.max(1, Math.round(max));
}

export function vodHeader(targetDuration: number, ended: boolean): string {
  return [
    '#EXTM3U',
    '#EXT-X-VERSION:7',
    `#EXT-X-TARGETDURATION:${targetDuration}`,
    `#EXT-X-PLAYLIST-TYPE:${ended ? 'VOD' : 'EVENT'}`,
    '#EXT-X-MEDIA-SEQUENCE:0',
  ].join('\n') + '\n';
}

/** The lines of one segment; `previous` decides whether its init must be named again. */
export function vodEntryLines(entry: VodEntry, previous: VodEntry | undefined): string {
  const lines: string[] = [];
  if (entry.discontinuity && previous) lines.push('#EXT-X-DISCONTINUITY');
  if (!previous || previous.generation !== entry.generation || entry.discontinuity) lines.push(`#EXT-X-MAP:URI="${initUri(entry.generation)}"`);
  lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.round(entry.programDateTimeMs)).toISOString()}`);
  lines.push(`#EXTINF:${entry.duration.toFixed(5)},`, segmentUri(entry.index));
  return lines.join('\n') + '\n';
}

export const ENDLIST = '#EXT-X-ENDLIST\n';

export function writeVodPlaylist(entries: readonly VodEntry[], options: { ended: boolean }): string {
  let out = vodHeader(vodTargetDuration(entries), options.ended);
  entries.forEach((entry, i) => {
    out += vodEntryLines(entry, entries[i - 1]);
  });
  return options.ended ? out + ENDLIST : out;
}
