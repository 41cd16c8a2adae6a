// Media time on replay: the ingest wall clock (Unix ms) of the frame at a playhead position, and
// back. The recording's playlist gives every segment its EXT-X-PROGRAM-DATE-TIME; hls.js turns
// each into a fragment {start, duration, programDateTime}. Same rule as hls.js's playingDate
// (pdt + offset into the fragment), but it looks up the fragment at the playhead rather than the
// one hls.js last marked as playing, which lags behind a seek for a moment. Pure.

export interface TimelineFragment {
  /** Position on the media timeline, s. */
  start: number;
  /** s */
  duration: number;
  /** Unix ms, or null when the playlist gave none. */
  programDateTime: number | null;
}

/** The fragment that holds `position` (the last one starting at or before it); binary search, called every frame. */
function fragmentAt(fragments: readonly TimelineFragment[], position: number): TimelineFragment | undefined {
  let lo = 0;
  let hi = fragments.length - 1;
  let found = 0;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (fragments[mid]!.start <= position + 1e-6) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return fragments[found];
}

/** Unix ms of the frame at `position` (s), or null when unknown. */
export function mediaTimeAt(fragments: readonly TimelineFragment[], position: number): number | null {
  const f = fragmentAt(fragments, position);
  if (!f || f.programDateTime === null || !Number.isFinite(position)) return null;
  const offset = Math.min(Math.max(0, position - f.start), f.duration);
  return f.programDateTime + offset * 1000;
}

/**
 * The playhead position (s) that shows media time `atMs`: inside the fragment that covers it;
 * in a gap, the start of the next fragment; before the first, its start; after the last, its end.
 */
export function positionOf(fragments: readonly TimelineFragment[], atMs: number): number | null {
  const timed = fragments.filter((f): f is TimelineFragment & { programDateTime: number } => f.programDateTime !== null);
  const first = timed[0];
  if (!first || !Number.isFinite(atMs)) return null;
  if (atMs <= first.programDateTime) return first.start;
  for (const f of timed) {
    const end = f.programDateTime + f.duration * 1000;
    if (atMs < f.programDateTime) return f.start; // in a gap: the next picture after it
    if (atMs < end) return f.start + (atMs - f.programDateTime) / 1000;
  }
  const last = timed[timed.length - 1]!;
  return last.start + last.duration;
}
