// One drawing gesture (pointer-down .. pointer-up) turned into an annotation. Pure: the tools
// controller feeds it normalised points; tests feed it numbers. The media time is fixed at
// pointer-down: the frame the drawer was looking at when they started.
import { MAX_STROKE_POINTS, MAX_TEXT_LENGTH, type Annotation, type Point } from '../../lib/annotations.js';
import { normalisedRadius } from './annotation-geometry.js';

export type DrawingTool = 'pointer' | 'stroke' | 'arrow' | 'circle' | 'text';
export const DRAWING_TOOLS: readonly DrawingTool[] = ['pointer', 'stroke', 'arrow', 'circle', 'text'];

/** A freehand point closer than this (frame widths) to the previous one adds nothing. */
export const STROKE_MIN_STEP = 0.003;
/** Shorter arrows are a click, not an arrow (frame widths). */
export const MIN_ARROW_LENGTH = 0.01;
/** Smaller circles are a click, not a circle (frame widths). */
export const MIN_CIRCLE_RADIUS = 0.005;

export interface GestureStart {
  tool: Exclude<DrawingTool, 'text'>;
  id: string;
  /** Media time of the frame on screen at pointer-down. */
  mediaTime: number;
  pinned: boolean;
  at: Point;
  /** Picture height / width, so distances are measured in pixels, not stretched units. */
  aspect: number;
}

export class Gesture {
  readonly start: GestureStart;
  #points: Point[];

  constructor(start: GestureStart) {
    this.start = start;
    this.#points = [start.at];
  }

  get points(): readonly Point[] {
    return this.#points;
  }

  /** The pointer moved (to a normalised, clamped point). */
  move(p: Point): void {
    if (this.start.tool !== 'stroke') {
      this.#points = [this.start.at, p];
      return;
    }
    const last = this.#points[this.#points.length - 1] ?? this.start.at;
    if (Math.hypot(p[0] - last[0], (p[1] - last[1]) * this.start.aspect) < STROKE_MIN_STEP) return;
    this.#points.push(p);
    // A very long stroke keeps its shape at half the resolution rather than being cut off.
    if (this.#points.length > MAX_STROKE_POINTS) this.#points = this.#points.filter((_, i, all) => i % 2 === 0 || i === all.length - 1);
  }

  /** The annotation as drawn so far; null while it is too small to mean anything. */
  annotation(): Annotation | null {
    const { tool, id, mediaTime, pinned, at, aspect } = this.start;
    const base = { id, mediaTime, ...(pinned ? { pinned: true } : {}) };
    const end = this.#points[this.#points.length - 1] ?? at;
    switch (tool) {
      case 'pointer':
        return { ...base, kind: 'pointer', at: end };
      case 'stroke':
        return { ...base, kind: 'stroke', points: this.#points.map((p) => [p[0], p[1]] as Point) };
      case 'arrow':
        if (Math.hypot(end[0] - at[0], (end[1] - at[1]) * aspect) < MIN_ARROW_LENGTH) return null;
        return { ...base, kind: 'arrow', from: at, to: end };
      case 'circle': {
        const radius = Math.min(1, normalisedRadius(at, end, aspect));
        if (radius < MIN_CIRCLE_RADIUS) return null;
        return { ...base, kind: 'circle', center: at, radius };
      }
    }
  }
}

/** A label as the protocol accepts it: no control characters, trimmed, at most MAX_TEXT_LENGTH. */
export function cleanLabel(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f]/g, ' ').trim().slice(0, MAX_TEXT_LENGTH);
}

/**
 * A fresh annotation id: a UUID where the page is a secure context, 128 random bits in hex where
 * it is not (an edge monitor on plain http has no crypto.randomUUID). Always [A-Za-z0-9_-].
 */
export function newAnnotationId(crypto: Pick<Crypto, 'getRandomValues'> & { randomUUID?: () => string } = globalThis.crypto): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID().replace(/[^A-Za-z0-9_-]/g, '');
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
