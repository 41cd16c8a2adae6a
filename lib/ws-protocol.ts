// Messages on the origin's WebSocket (/ws for edges, /ws/<stream> for viewers): clock pings,
// who is on the other end, latency reports. JSON text frames. Shared by the origin (which checks
// every field), the edge and the pages, so it imports nothing from Node or the DOM.
import { parseAnnotation, type Annotation, type AnnotationEvent } from './annotations.js';
import type { ClockPing, ClockPong } from './clock-sync.js';
import { isStreamName } from './stream-name.js';

export type WsRole = 'expert' | 'trainee' | 'surgeon' | 'probe' | 'edge';
export type WsPath = 'webrtc' | 'llhls';

export const WS_ROLES: readonly WsRole[] = ['expert', 'trainee', 'surgeon', 'probe', 'edge'];
export const WS_PATHS: readonly WsPath[] = ['webrtc', 'llhls'];
/** Larger frames are refused by the socket itself (close 1009). */
export const WS_MAX_MESSAGE_BYTES = 64 * 1024;

export interface HelloMessage {
  type: 'hello';
  role: WsRole;
  /** Edges only: the id they use on ingest, so their clock offset applies to their stamps. */
  edgeId?: string;
  /**
   * Viewers: the last annotation seq already seen (0 = none). The origin then sends every later
   * one it still holds, in order, before live ones: a reconnect loses and repeats nothing.
   */
  since?: number;
}

/** Draw (expert and surgeon only; a trainee gets 'refused'). */
export interface AnnotateMessage {
  type: 'annotate';
  annotation: Annotation;
}

/** A viewer's latency: origin-synced now minus the ingest wall clock of the frame on screen. */
export interface ReportMessage {
  type: 'report';
  path: WsPath;
  latencyMs: number;
}

/** An edge's clock estimate: origin minus edge, ms. */
export interface OffsetMessage {
  type: 'offset';
  offsetMs: number;
  rttMs: number;
}

/** An edge's encoder, once a second per stream it is publishing. */
export interface EdgeStatsMessage {
  type: 'edge-stats';
  stream: string;
  speed: number | null;
  fps: number;
  droppedFrames: number;
  duplicatedFrames: number;
  /** Median ingest -> encoded delay, ms, per feed. */
  encodeMs: { llhls: number | null; webrtc: number | null };
}

export type ClientMessage = ClockPing | HelloMessage | ReportMessage | OffsetMessage | EdgeStatsMessage | AnnotateMessage;

export interface WelcomeMessage {
  type: 'welcome';
  /** The server's id for this connection (viewer id in reports and alerts). */
  id: string;
  stream: string | null;
}

export interface ErrorMessage {
  type: 'error';
  code: string;
  message: string;
}

/** One annotation, live or replayed after a reconnect (seq tells which are new). */
export interface AnnotationMessage {
  type: 'annotation';
  event: AnnotationEvent;
}

/** A well-formed request this connection may not make (e.g. a trainee drawing); it stays open. */
export interface RefusedMessage {
  type: 'refused';
  code: string;
  message: string;
  /** The annotation id that was refused, if any. */
  id?: string;
}

/** Origin -> edge: token ids revoked (all in force on connect, then each as it happens). */
export interface RevocationsMessage {
  type: 'revocations';
  entries: Array<[jti: string, expUnix: number]>;
}

export type ServerMessage = ClockPong | WelcomeMessage | ErrorMessage | AnnotationMessage | RefusedMessage | RevocationsMessage;

const EDGE_ID = /^[A-Za-z0-9_.-]{1,64}$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const finiteIn = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max;
const onlyKeys = (o: Record<string, unknown>, keys: readonly string[]): string | null => {
  const extra = Object.keys(o).find((k) => !keys.includes(k));
  return extra === undefined ? null : `unknown field ${JSON.stringify(extra.slice(0, 40))}`;
};

/** Parses and checks one client frame; the error says what is wrong, for the close reason. */
export function parseClientMessage(text: string): { ok: true; message: ClientMessage } | { ok: false; error: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'not JSON' };
  }
  if (!isObject(value)) return { ok: false, error: 'not a JSON object' };
  const bad = (error: string): { ok: false; error: string } => ({ ok: false, error: `${String(value.type).slice(0, 20)}: ${error}` });
  switch (value.type) {
    case 'ping': {
      const extra = onlyKeys(value, ['type', 'id', 't0']);
      if (extra) return bad(extra);
      if (!Number.isSafeInteger(value.id) || !finiteIn(value.t0, 0, 1e14)) return bad('id must be an integer and t0 a time in ms');
      return { ok: true, message: { type: 'ping', id: value.id as number, t0: value.t0 } };
    }
    case 'hello': {
      const extra = onlyKeys(value, ['type', 'role', 'edgeId', 'since']);
      if (extra) return bad(extra);
      if (!WS_ROLES.includes(value.role as WsRole)) return bad(`role must be one of ${WS_ROLES.join(', ')}`);
      if (value.edgeId !== undefined && (typeof value.edgeId !== 'string' || !EDGE_ID.test(value.edgeId))) return bad('edgeId must match [A-Za-z0-9_.-]{1,64}');
      if (value.since !== undefined && !(Number.isSafeInteger(value.since) && (value.since as number) >= 0)) return bad('since must be a non-negative integer');
      const message: HelloMessage = { type: 'hello', role: value.role as WsRole };
      if (typeof value.edgeId === 'string') message.edgeId = value.edgeId;
      if (typeof value.since === 'number') message.since = value.since;
      return { ok: true, message };
    }
    case 'report': {
      const extra = onlyKeys(value, ['type', 'path', 'latencyMs']);
      if (extra) return bad(extra);
      if (!WS_PATHS.includes(value.path as WsPath)) return bad(`path must be one of ${WS_PATHS.join(', ')}`);
      // Negative values happen with an unsynced clock; hours mean a broken one.
      if (!finiteIn(value.latencyMs, -60_000, 3_600_000)) return bad('latencyMs must be a number of ms');
      return { ok: true, message: { type: 'report', path: value.path as WsPath, latencyMs: value.latencyMs } };
    }
    case 'offset': {
      const extra = onlyKeys(value, ['type', 'offsetMs', 'rttMs']);
      if (extra) return bad(extra);
      if (!finiteIn(value.offsetMs, -1e10, 1e10) || !finiteIn(value.rttMs, 0, 600_000)) return bad('offsetMs and rttMs must be numbers of ms');
      return { ok: true, message: { type: 'offset', offsetMs: value.offsetMs, rttMs: value.rttMs } };
    }
    case 'edge-stats': {
      const extra = onlyKeys(value, ['type', 'stream', 'speed', 'fps', 'droppedFrames', 'duplicatedFrames', 'encodeMs']);
      if (extra) return bad(extra);
      if (!isStreamName(value.stream)) return bad('stream is not a valid stream name');
      const enc = value.encodeMs;
      const delay = (v: unknown): v is number | null => v === null || finiteIn(v, 0, 600_000);
      if (!isObject(enc) || onlyKeys(enc, ['llhls', 'webrtc']) || !delay(enc.llhls) || !delay(enc.webrtc)) return bad('encodeMs must be { llhls, webrtc } in ms or null');
      if (!(value.speed === null || finiteIn(value.speed, 0, 1000)) || !finiteIn(value.fps, 0, 1000)) return bad('speed and fps must be numbers');
      if (!finiteIn(value.droppedFrames, 0, 1e12) || !finiteIn(value.duplicatedFrames, 0, 1e12)) return bad('frame counts must be numbers');
      return {
        ok: true,
        message: {
          type: 'edge-stats',
          stream: value.stream,
          speed: value.speed,
          fps: value.fps,
          droppedFrames: value.droppedFrames,
          duplicatedFrames: value.duplicatedFrames,
          encodeMs: { llhls: enc.llhls, webrtc: enc.webrtc },
        },
      };
    }
    case 'annotate': {
      const extra = onlyKeys(value, ['type', 'annotation']);
      if (extra) return bad(extra);
      const parsed = parseAnnotation(value.annotation);
      if (!parsed.ok) return bad(parsed.error);
      return { ok: true, message: { type: 'annotate', annotation: parsed.annotation } };
    }
    default:
      return { ok: false, error: `unknown message type ${JSON.stringify(String(value.type).slice(0, 20))}` };
  }
}
