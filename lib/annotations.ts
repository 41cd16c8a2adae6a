// Telestration: what an expert or the surgeon draws on the picture. Coordinates are normalised to
// the video frame (0..1, origin top left), so every screen size and the recording agree. Each
// annotation carries the media time it was drawn on: the edge ingest wall clock (on the origin
// clock) of the frame that was on the drawer's screen. Viewers show it when their own playhead
// reaches that frame. Shared by origin, edge monitor and pages: no Node or DOM imports.

export type AnnotationKind = 'pointer' | 'stroke' | 'arrow' | 'circle' | 'text' | 'clear';
export const ANNOTATION_KINDS: readonly AnnotationKind[] = ['pointer', 'stroke', 'arrow', 'circle', 'text', 'clear'];

/** A normalised point: x and y in 0..1 of the video frame. */
export type Point = [x: number, y: number];

interface Base {
  /** Chosen by the drawer (UUID or similar); the same id again replaces that drawing. */
  id: string;
  /** Ingest wall clock (origin clock, Unix ms) of the frame it was drawn on. */
  mediaTime: number;
  /** '#rrggbb'; pages pick a default per role when absent. */
  color?: string;
  /** Pinned drawings stay until cleared; others fade after the page's fade time. */
  pinned?: boolean;
}

export interface PointerAnnotation extends Base { kind: 'pointer'; at: Point }
export interface StrokeAnnotation extends Base { kind: 'stroke'; points: Point[] }
export interface ArrowAnnotation extends Base { kind: 'arrow'; from: Point; to: Point }
/** radius is a fraction of the frame width. */
export interface CircleAnnotation extends Base { kind: 'circle'; center: Point; radius: number }
export interface TextAnnotation extends Base { kind: 'text'; at: Point; text: string }
/** Removes the listed drawings, or every drawing when ids is absent. */
export interface ClearAnnotation extends Base { kind: 'clear'; ids?: string[] }

export type Annotation = PointerAnnotation | StrokeAnnotation | ArrowAnnotation | CircleAnnotation | TextAnnotation | ClearAnnotation;

export type AnnotatorRole = 'expert' | 'surgeon' | 'trainee' | 'probe';
/** Who may draw (enforced by the origin; pages only hide the tools). */
export const DRAWING_ROLES: readonly AnnotatorRole[] = ['expert', 'surgeon'];

/** An annotation as the origin relays and records it. */
export interface AnnotationEvent {
  /** Per stream, from 1, no gaps: clients resume after the last seq they saw. */
  seq: number;
  stream: string;
  /** The origin connection id of the drawer. */
  author: string;
  role: AnnotatorRole;
  /** Origin clock when it was accepted, Unix ms. */
  receivedAt: number;
  annotation: Annotation;
}

export const MAX_STROKE_POINTS = 2000;
export const MAX_TEXT_LENGTH = 200;
export const MAX_CLEAR_IDS = 256;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const COLOR = /^#[0-9a-fA-F]{6}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const unit = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0 && v <= 1;
const isPoint = (v: unknown): v is Point => Array.isArray(v) && v.length === 2 && unit(v[0]) && unit(v[1]);

const FIELDS: Record<AnnotationKind, readonly string[]> = {
  pointer: ['at'],
  stroke: ['points'],
  arrow: ['from', 'to'],
  circle: ['center', 'radius'],
  text: ['at', 'text'],
  clear: ['ids'],
};

/** Checks an annotation from the wire; returns it (copied, only known fields) or what is wrong. */
export function parseAnnotation(value: unknown): { ok: true; annotation: Annotation } | { ok: false; error: string } {
  const bad = (error: string): { ok: false; error: string } => ({ ok: false, error: `annotation: ${error}` });
  if (!isObject(value)) return bad('must be an object');
  const kind = value.kind as AnnotationKind;
  if (!ANNOTATION_KINDS.includes(kind)) return bad(`kind must be one of ${ANNOTATION_KINDS.join(', ')}`);
  const allowed = ['kind', 'id', 'mediaTime', 'color', 'pinned', ...FIELDS[kind]];
  const extra = Object.keys(value).find((k) => !allowed.includes(k));
  if (extra !== undefined) return bad(`unknown field ${JSON.stringify(extra.slice(0, 40))} for ${kind}`);
  if (typeof value.id !== 'string' || !ID.test(value.id)) return bad('id must match [A-Za-z0-9_-]{1,64}');
  if (typeof value.mediaTime !== 'number' || !Number.isFinite(value.mediaTime) || value.mediaTime < 0 || value.mediaTime > 1e14) return bad('mediaTime must be a Unix time in ms');
  if (value.color !== undefined && (typeof value.color !== 'string' || !COLOR.test(value.color))) return bad('color must be #rrggbb');
  if (value.pinned !== undefined && typeof value.pinned !== 'boolean') return bad('pinned must be true or false');
  const base: Base = { id: value.id, mediaTime: value.mediaTime };
  if (value.color !== undefined) base.color = value.color as string;
  if (value.pinned !== undefined) base.pinned = value.pinned as boolean;
  switch (kind) {
    case 'pointer':
      if (!isPoint(value.at)) return bad('at must be [x, y] in 0..1');
      return { ok: true, annotation: { ...base, kind, at: [value.at[0], value.at[1]] } };
    case 'stroke': {
      const points = value.points;
      if (!Array.isArray(points) || points.length < 1 || points.length > MAX_STROKE_POINTS) return bad(`points must be 1..${MAX_STROKE_POINTS} points`);
      if (!points.every(isPoint)) return bad('every point must be [x, y] in 0..1');
      return { ok: true, annotation: { ...base, kind, points: points.map((p) => [p[0], p[1]] as Point) } };
    }
    case 'arrow':
      if (!isPoint(value.from) || !isPoint(value.to)) return bad('from and to must be [x, y] in 0..1');
      return { ok: true, annotation: { ...base, kind, from: [value.from[0], value.from[1]], to: [value.to[0], value.to[1]] } };
    case 'circle':
      if (!isPoint(value.center)) return bad('center must be [x, y] in 0..1');
      if (typeof value.radius !== 'number' || !(value.radius > 0 && value.radius <= 1)) return bad('radius must be in (0, 1]');
      return { ok: true, annotation: { ...base, kind, center: [value.center[0], value.center[1]], radius: value.radius } };
    case 'text': {
      if (!isPoint(value.at)) return bad('at must be [x, y] in 0..1');
      const text = value.text;
      if (typeof text !== 'string' || text.length < 1 || text.length > MAX_TEXT_LENGTH) return bad(`text must be 1..${MAX_TEXT_LENGTH} characters`);
      // Control characters have no business on a label (and could confuse a log line).
      if (/[\u0000-\u001f\u007f]/.test(text)) return bad('text must not contain control characters');
      return { ok: true, annotation: { ...base, kind, at: [value.at[0], value.at[1]], text } };
    }
    case 'clear': {
      if (value.ids === undefined) return { ok: true, annotation: { ...base, kind } };
      const ids = value.ids;
      if (!Array.isArray(ids) || ids.length > MAX_CLEAR_IDS || !ids.every((i) => typeof i === 'string' && ID.test(i))) return bad(`ids must be up to ${MAX_CLEAR_IDS} ids`);
      return { ok: true, annotation: { ...base, kind, ids: [...ids] as string[] } };
    }
  }
}

/**
 * Which drawings are on screen at a playhead (media time, ms): pure, used by every page and by
 * the library's replay. A drawing appears at its mediaTime and fades out fadeMs later unless
 * pinned; a clear removes what it names (or everything) drawn before it; the same id replaces.
 */
export function visibleAt(events: readonly AnnotationEvent[], playheadMs: number, fadeMs: number): Annotation[] {
  const shown = new Map<string, Annotation>();
  const ordered = [...events].sort((a, b) => a.annotation.mediaTime - b.annotation.mediaTime || a.seq - b.seq);
  for (const e of ordered) {
    const a = e.annotation;
    if (a.mediaTime > playheadMs) break;
    if (a.kind === 'clear') {
      if (a.ids) for (const id of a.ids) shown.delete(id);
      else shown.clear();
      continue;
    }
    shown.delete(a.id); // re-insert: the newest version draws on top
    shown.set(a.id, a);
  }
  return [...shown.values()].filter((a) => a.pinned || playheadMs - a.mediaTime < fadeMs);
}
