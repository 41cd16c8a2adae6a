// The expert page's vocabulary: it speaks the watch page's events (so the watch controllers plug
// straight in) plus which delivery path is on screen and how many WebRTC frames were decoded.
import type { ScopecastDebugSnapshot, WatchEvents } from '../watch/types.js';

/** What is on screen: WebRTC (WHEP), the LL-HLS fallback, or nothing yet. */
export type ExpertPath = 'webrtc' | 'llhls';

export interface ExpertEvents extends WatchEvents {
  /** The path on screen changed; `reason` says why, for the path label's tooltip. */
  path: [path: ExpertPath | null, reason: string];
  /** framesDecoded of the current WebRTC session's video (getStats inbound-rtp). */
  frames: [framesDecoded: number];
}

/** `window.__scopecast` on the expert page: the watch page's snapshot plus the path. */
export interface ExpertDebugSnapshot extends ScopecastDebugSnapshot {
  path: ExpertPath | null;
  framesDecoded: number;
}
