// PHI masks: rectangles of the console's picture blacked out before the video leaves the hospital.
// Pure: a checker (shared by the edge config loader and transcodeArgs) and the ffmpeg filters.
import type { MaskRegion } from './profiles.js';

/** At most this many regions per console (each is one drawbox on every frame). */
export const MAX_MASK_REGIONS = 16;

/**
 * Smallest width or height of a region, fraction of the frame (0.1 %). Below it the rounded box
 * could come out 0 pixels wide, which drawbox reads as "the whole frame".
 */
export const MIN_MASK_SIZE = 0.001;

// A region may end exactly on the frame edge; sums such as 0.7 + 0.3 land a hair either side of 1.
const EDGE_TOLERANCE = 1e-9;

const KEYS = ['x', 'y', 'w', 'h'] as const;

/**
 * Every problem with a list of mask regions, each prefixed with `path` and the region's index
 * (the config loader passes the JSON pointer of the list). Empty = valid.
 */
export function maskProblems(masks: unknown, path = ''): string[] {
  if (!Array.isArray(masks)) return [`${path}: must be an array of {x, y, w, h}`];
  const problems: string[] = [];
  if (masks.length > MAX_MASK_REGIONS) problems.push(`${path}: at most ${MAX_MASK_REGIONS} regions (got ${masks.length})`);
  masks.forEach((mask: unknown, i) => problems.push(...regionProblems(mask, `${path}/${i}`)));
  return problems;
}

function regionProblems(mask: unknown, at: string): string[] {
  if (typeof mask !== 'object' || mask === null || Array.isArray(mask)) return [`${at}: must be an object {x, y, w, h}`];
  const fields = mask as Record<string, unknown>;
  const problems = Object.keys(fields)
    .filter((key) => !(KEYS as readonly string[]).includes(key))
    .map((key) => `${at}: unknown key "${key.slice(0, 40)}"`);
  for (const key of KEYS) {
    const value = fields[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) problems.push(`${at}/${key}: must be a finite number`);
  }
  if (problems.length > 0) return problems;
  const { x, y, w, h } = fields as unknown as MaskRegion;
  if (x < 0 || x > 1) problems.push(`${at}/x: must be within 0..1 (fraction of the frame width)`);
  if (y < 0 || y > 1) problems.push(`${at}/y: must be within 0..1 (fraction of the frame height)`);
  if (!(w >= MIN_MASK_SIZE) || w > 1) problems.push(`${at}/w: must be within ${MIN_MASK_SIZE}..1 (fraction of the frame width)`);
  if (!(h >= MIN_MASK_SIZE) || h > 1) problems.push(`${at}/h: must be within ${MIN_MASK_SIZE}..1 (fraction of the frame height)`);
  if (problems.length > 0) return problems;
  if (x + w > 1 + EDGE_TOLERANCE) problems.push(`${at}: x + w is ${x + w}, past the right edge of the frame (must be <= 1)`);
  if (y + h > 1 + EDGE_TOLERANCE) problems.push(`${at}: y + h is ${y + h}, past the bottom edge of the frame (must be <= 1)`);
  return problems;
}

/**
 * One drawbox per region, for the start of the video filter chain (before scale): iw/ih are the
 * console's own frame size and are evaluated again whenever ffmpeg rebuilds the graph for a new
 * input resolution, so the mask follows a console that switches resolution mid-stream. Edges are
 * rounded outward (left/top floored, right/bottom ceiled): no partly covered pixel row or column
 * of the region escapes. Callers check the regions with maskProblems first.
 */
export function maskFilters(masks: readonly MaskRegion[]): string[] {
  return masks.map(({ x, y, w, h }) => {
    const left = `floor(iw*${decimal(x)})`;
    const top = `floor(ih*${decimal(y)})`;
    const right = `ceil(iw*${decimal(x)}+iw*${decimal(w)})`;
    const bottom = `ceil(ih*${decimal(y)}+ih*${decimal(h)})`;
    return `drawbox=x=${left}:y=${top}:w=${right}-${left}:h=${bottom}-${top}:color=black:t=fill`;
  });
}

/** Plain decimal (no exponent) for ffmpeg's expression parser; values are within 0..1. */
function decimal(value: number): string {
  const text = String(value);
  return /e/i.test(text) ? value.toFixed(20).replace(/\.?0+$/, '') : text;
}
