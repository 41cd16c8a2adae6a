// Media entering a live stream at the origin, whoever brings it: the edge's ingest requests or
// the cluster relay pulling from another origin. One place parses, stores and forwards it, so a
// pulled stream is stored exactly like a pushed one.
import { parseFragment, parseInit, type FragmentInfo, type InitInfo } from '../../codecs/fmp4/index.js';
import { ScopecastError } from '../../lib/errors.js';
import type { Part } from '../hls/part-store.js';
import type { LiveStream } from './live-stream.js';

export interface RenditionSettings {
  windowSegments: number;
  partHoldBackParts: number;
}

/** Sets the first-frame wall clock of a fragment (already on this origin's clock), if it has one. */
export type ClockFix = (info: FragmentInfo) => FragmentInfo;

export const keepClock: ClockFix = (info) => info;

/** The owner's clock stamp travels beside the bytes (the bytes keep the edge's own). */
export function clockFrom(wallClockMs: number | null): ClockFix {
  return (info) => {
    if (info.prft && wallClockMs !== null) info.prft = { ...info.prft, wallClockMs };
    return info;
  };
}

/** Parsed before any stream is created: a bad init segment starts nothing. */
export function parseVideoInit(body: Buffer): InitInfo {
  const info = parseInit(body);
  if (!info.videoTrack) throw new ScopecastError('SC_ERR_INGEST_MEDIA', 'init segment has no video track');
  return info;
}

/** An LL-HLS init segment (from parseVideoInit): starts (or restarts, after an encoder restart) a rendition. */
export function applyInit(
  live: LiveStream,
  settings: RenditionSettings,
  rendition: string,
  body: Buffer,
  info: InitInfo,
  options: { partTarget: number; bandwidth: number },
): number {
  const r = live.ensureRendition({
    name: rendition,
    partTarget: options.partTarget,
    windowSegments: settings.windowSegments,
    partHoldBackParts: settings.partHoldBackParts,
    declaredBandwidth: Number.isFinite(options.bandwidth) ? options.bandwidth : 0,
  });
  const generation = r.setInit(body, info);
  live.forward({ kind: 'init', rendition, partTarget: r.partTarget, bandwidth: Number.isFinite(options.bandwidth) ? options.bandwidth : 0 }, body);
  return generation;
}

/** One LL-HLS part. null part = a duplicate (a retried request). Throws when no init came first. */
export function applyPart(live: LiveStream, rendition: string, body: Buffer, fixClock: ClockFix): { part: Part | null; info: FragmentInfo } {
  const r = live.state === 'live' ? live.rendition(rendition) : undefined;
  const init = r?.initInfo;
  if (!r || !init) throw new ScopecastError('SC_ERR_INGEST_ORDER', `${live.name}/${rendition}`);
  const info = fixClock(parseFragment(body, init));
  const part = r.addFragment(body, info);
  if (part) live.forward({ kind: 'part', rendition, wallClockMs: info.prft?.wallClockMs ?? null }, body);
  return { part, info };
}

/** The realtime (per-frame) feed's init segment. */
export function applyRealtimeInit(live: LiveStream, body: Buffer): InitInfo {
  const init = parseInit(body);
  live.realtime.setInit(init);
  live.realtimeInit = body;
  live.forward({ kind: 'rt-init' }, body);
  return init;
}

/** One frame of the realtime feed. */
export function applyRealtimeFrame(live: LiveStream, init: InitInfo, body: Buffer, fixClock: ClockFix): FragmentInfo {
  const info = fixClock(parseFragment(body, init));
  live.realtime.push(body, info);
  live.forward({ kind: 'rt', wallClockMs: info.prft?.wallClockMs ?? null }, body);
  return info;
}
