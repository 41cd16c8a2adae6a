// The annotation events a page has received: one per seq, kept in seq order, with the highest seq
// seen (what the page asks to resume after on reconnect). Long live sessions are compacted so a
// frame's visibleAt() stays cheap: see compactEvents.
import { visibleAt, type AnnotationEvent, type AnnotatorRole } from '../../lib/annotations.js';

/** Compaction starts above this many events. */
export const COMPACT_ABOVE = 300;
/** Only events this far behind the playhead are compacted (a live playhead can step back a little). */
export const COMPACT_MARGIN_MS = 30_000;

/**
 * Replaces every event with mediaTime <= `beforeMs` by the drawings it leaves standing, so that
 * visibleAt(result, p, fadeMs) equals visibleAt(events, p, fadeMs) for every p >= beforeMs:
 * clears and replaced versions are applied and dropped, and unpinned drawings that have faded by
 * `beforeMs` can never show again. Survivors keep their seq, so draw order is unchanged.
 */
export function compactEvents(events: readonly AnnotationEvent[], beforeMs: number, fadeMs: number): AnnotationEvent[] {
  const old = events.filter((e) => e.annotation.mediaTime <= beforeMs);
  if (old.length === 0) return [...events];
  // Everything old that is still standing at beforeMs, pinned or not yet faded.
  const standing = new Set(visibleAt(old, beforeMs, fadeMs));
  const keep = new Set<AnnotationEvent>();
  for (const e of old) if (standing.has(e.annotation)) keep.add(e);
  return events.filter((e) => e.annotation.mediaTime > beforeMs || keep.has(e));
}

export class AnnotationStore {
  #events: AnnotationEvent[] = [];
  readonly #seqs = new Set<number>();
  readonly #roles = new Map<string, AnnotatorRole>();
  #lastSeq = 0;
  /** Highest seq compaction dropped: an older seq arriving again is a repeat, not news. */
  #droppedThrough = 0;
  #latestMediaTime = -Infinity;

  /** Adds an event; false when it is a repeat (same seq) or older than what was compacted. */
  add(event: AnnotationEvent): boolean {
    if (this.#seqs.has(event.seq) || event.seq <= this.#droppedThrough) return false;
    this.#seqs.add(event.seq);
    const list = this.#events;
    // Events come in seq order; a replay merged with live ones may not, so insert in place.
    let i = list.length;
    while (i > 0 && (list[i - 1]?.seq ?? 0) > event.seq) i -= 1;
    list.splice(i, 0, event);
    this.#roles.set(event.annotation.id, event.role);
    if (event.seq > this.#lastSeq) this.#lastSeq = event.seq;
    if (event.annotation.mediaTime > this.#latestMediaTime) this.#latestMediaTime = event.annotation.mediaTime;
    return true;
  }

  /** Ordered by seq. */
  get events(): readonly AnnotationEvent[] {
    return this.#events;
  }

  get size(): number {
    return this.#events.length;
  }

  /** The highest seq received (0 = none): hello.since on reconnect. */
  get lastSeq(): number {
    return this.#lastSeq;
  }

  /** The newest mediaTime received; -Infinity before any. */
  get latestMediaTime(): number {
    return this.#latestMediaTime;
  }

  /** Role of the newest drawer of an annotation id. */
  roleOf(id: string): AnnotatorRole | undefined {
    return this.#roles.get(id);
  }

  /** Compacts when the log is long (see compactEvents); the playhead must only move forward past it. */
  compact(playheadMs: number, fadeMs: number): void {
    if (this.#events.length <= COMPACT_ABOVE || !Number.isFinite(playheadMs)) return;
    const kept = compactEvents(this.#events, playheadMs - COMPACT_MARGIN_MS, fadeMs);
    if (kept.length === this.#events.length) return;
    const keptSet = new Set(kept);
    for (const e of this.#events) {
      if (keptSet.has(e)) continue;
      this.#seqs.delete(e.seq);
      if (e.seq > this.#droppedThrough) this.#droppedThrough = e.seq;
    }
    this.#events = kept;
    this.#roles.clear();
    for (const e of kept) this.#roles.set(e.annotation.id, e.role);
  }
}
