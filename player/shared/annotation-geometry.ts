// Where the picture is inside a <video> box, and the mapping between pointer pixels and the
// normalised frame coordinates annotations use. Pure: every page (and the tests) share one answer.
import type { Point } from '../../lib/annotations.js';
import { fitVideoRect, toCanvasPoint } from './annotation-renderer.js';

/** A rectangle in CSS px, relative to the element box it was computed for. */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export const EMPTY_RECT: Rect = { x: 0, y: 0, width: 0, height: 0 };

/**
 * The displayed picture inside an element box with `object-fit: contain` (a <video>'s default):
 * scaled to fit, centred, letterboxed or pillarboxed. Unknown video size (0): the whole box.
 */
export function displayedRect(videoWidth: number, videoHeight: number, boxWidth: number, boxHeight: number): Rect {
  if (!(boxWidth > 0 && boxHeight > 0)) return EMPTY_RECT;
  // The renderer's fit is the one every page draws with; this adds "no box, no picture".
  return fitVideoRect({ width: boxWidth, height: boxHeight }, { width: videoWidth, height: videoHeight });
}

const clamp01 = (v: number): number => (v < 0 ? 0 : v > 1 ? 1 : v);

/**
 * A position in the box (CSS px) to frame coordinates. Outside the picture (the bars): null, or
 * the nearest edge point with `clamp` (a drag that leaves the picture keeps drawing along its edge).
 */
export function toNormalised(px: number, py: number, rect: Rect, clamp = false): Point | null {
  if (!(rect.width > 0 && rect.height > 0)) return null;
  const x = (px - rect.x) / rect.width;
  const y = (py - rect.y) / rect.height;
  if (clamp) return [clamp01(x), clamp01(y)];
  if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return null;
  return [x, y];
}

/** Frame coordinates to box pixels. */
export function toPixels(point: Point, rect: Rect): [x: number, y: number] {
  return toCanvasPoint(point, rect);
}

/**
 * The circle radius annotations carry (a fraction of the frame width) from its centre and a point
 * on its edge; `aspect` is the picture's height / width, so the distance is measured in pixels.
 */
export function normalisedRadius(center: Point, edge: Point, aspect: number): number {
  return Math.hypot(edge[0] - center[0], (edge[1] - center[1]) * aspect);
}

/** True when two rects are the same to a tenth of a pixel (redraws are skipped otherwise). */
export function sameRect(a: Rect, b: Rect): boolean {
  const near = (p: number, q: number): boolean => Math.abs(p - q) < 0.1;
  return near(a.x, b.x) && near(a.y, b.y) && near(a.width, b.width) && near(a.height, b.height);
}
