// One WHEP session on a <video>: offer, POST, answer, then watch the connection and the decoder.
// It reports exactly one verdict for an attempt ('frames' or 'failed') and, once established, at
// most one 'dropped'; it never decides what to do next (the path controller does).
// FrameLatency measures glass-to-glass latency from requestVideoFrameCallback metadata.
import type { PlayerError } from '../watch/types.js';
import { WhepError, createWhepOffer, deleteWhepSession, postWhepOffer, webrtcError } from './whep-client.js';

export type WebRtcOutcome =
  /** The attempt delivers decoded video. */
  | { kind: 'frames' }
  /** The attempt never delivered video: POST failed, bad answer, ICE failed, or no frame in time. */
  | { kind: 'failed'; error: PlayerError }
  /** An established session went away ('failed', or 'disconnected' for longer than the grace). */
  | { kind: 'dropped'; error: PlayerError };

export interface WebRtcTimings {
  /** No decoded frame this long after start(): the attempt failed, ms. */
  firstFrameTimeoutMs: number;
  /** 'disconnected' for longer than this: the session dropped, ms. */
  disconnectGraceMs: number;
  /** Longest wait for ICE gathering before POSTing what we have, ms. */
  iceGatherTimeoutMs: number;
  /** getStats() poll for framesDecoded, ms. */
  statsIntervalMs: number;
}

export const DEFAULT_WEBRTC_TIMINGS: WebRtcTimings = {
  firstFrameTimeoutMs: 5000,
  disconnectGraceMs: 2000,
  iceGatherTimeoutMs: 2000,
  statsIntervalMs: 500,
};

export interface WebRtcSessionOptions {
  video: HTMLVideoElement;
  /** WHEP endpoint, e.g. '/whep/endo-1'. */
  endpoint: string;
  onOutcome: (outcome: WebRtcOutcome) => void;
  /** framesDecoded, whenever it changes. */
  onFrames?: (framesDecoded: number) => void;
  /**
   * Edge ingest wall clock (Unix ms) of the newest received frame and its RTP timestamp, from the
   * abs-capture-time header extension (getSynchronizationSources().captureTimestamp).
   */
  onCapture?: (captureUnixMs: number, rtpTimestamp: number) => void;
  timings?: Partial<WebRtcTimings>;
  fetch?: typeof fetch;
  /** Headers for the WHEP POST and DELETE (the access token), read per request. */
  headers?: () => Record<string, string>;
}

export class WebRtcSession {
  readonly #video: HTMLVideoElement;
  readonly #endpoint: string;
  readonly #onOutcome: (outcome: WebRtcOutcome) => void;
  readonly #onFrames: (framesDecoded: number) => void;
  readonly #onCapture: (captureUnixMs: number, rtpTimestamp: number) => void;
  readonly #timings: WebRtcTimings;
  readonly #fetch: typeof fetch;
  readonly #headers: () => Record<string, string>;
  readonly #abort = new AbortController();
  readonly #stream = new MediaStream();
  #pc: RTCPeerConnection | null = null;
  #session: string | null = null;
  #firstFrameTimer: ReturnType<typeof setTimeout> | null = null;
  #disconnectTimer: ReturnType<typeof setTimeout> | null = null;
  #statsTimer: ReturnType<typeof setInterval> | null = null;
  #framesDecoded = 0;
  #established = false;
  #finished = false;
  #destroyed = false;

  constructor(options: WebRtcSessionOptions) {
    this.#video = options.video;
    this.#endpoint = options.endpoint;
    this.#onOutcome = options.onOutcome;
    this.#onFrames = options.onFrames ?? (() => undefined);
    this.#onCapture = options.onCapture ?? (() => undefined);
    this.#timings = { ...DEFAULT_WEBRTC_TIMINGS, ...options.timings };
    this.#fetch = options.fetch ?? ((input, init) => fetch(input, init));
    this.#headers = options.headers ?? (() => ({}));
  }

  get framesDecoded(): number {
    return this.#framesDecoded;
  }

  /** Negotiates; the verdict arrives through onOutcome, never as a rejection. */
  async start(): Promise<void> {
    if (this.#destroyed || this.#pc) return;
    this.#firstFrameTimer = setTimeout(() => {
      this.#fail(webrtcError('noVideoFrames'));
    }, this.#timings.firstFrameTimeoutMs);
    if (typeof RTCPeerConnection !== 'function') {
      this.#fail(webrtcError('webrtcUnsupported'));
      return;
    }
    try {
      // No STUN/TURN: the edge is reachable directly and the page may not talk to other hosts.
      const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: 'max-bundle' });
      this.#pc = pc;
      pc.addEventListener('track', this.#onTrack);
      pc.addEventListener('connectionstatechange', this.#onConnectionState);
      const offer = await createWhepOffer(pc, this.#timings.iceGatherTimeoutMs, this.#abort.signal);
      if (this.#destroyed) return;
      const answer = await postWhepOffer(this.#endpoint, offer, {
        signal: this.#abort.signal,
        fetch: this.#fetch,
        headers: this.#headers(),
        onSession: (session) => this.#adoptSession(session),
      });
      if (this.#destroyed) return;
      try {
        await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      } catch (error) {
        throw new WhepError(webrtcError('whepBadAnswer', { httpStatus: 201 }), error instanceof Error ? error.message : String(error));
      }
      if (this.#destroyed) return;
      this.#statsTimer = setInterval(() => void this.#pollStats(), this.#timings.statsIntervalMs);
    } catch (error) {
      if (this.#destroyed) return;
      this.#fail(error instanceof WhepError ? error.error : webrtcError('negotiationFailed'));
    }
  }

  /** Closes the connection and DELETEs the WHEP session if one was created. Idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#abort.abort();
    this.#clearTimers();
    const pc = this.#pc;
    if (pc) {
      pc.removeEventListener('track', this.#onTrack);
      pc.removeEventListener('connectionstatechange', this.#onConnectionState);
      pc.close();
    }
    if (this.#video.srcObject === this.#stream) this.#video.srcObject = null;
    for (const track of this.#stream.getTracks()) this.#stream.removeTrack(track);
    if (this.#session) deleteWhepSession(this.#session, this.#fetch, this.#headers());
    this.#session = null;
  }

  #adoptSession(session: string): void {
    // A 201 that lands after destroy() still created a session on the edge: end it now.
    if (this.#destroyed) deleteWhepSession(session, this.#fetch, this.#headers());
    else this.#session = session;
  }

  readonly #onTrack = (event: RTCTrackEvent): void => {
    this.#stream.addTrack(event.track);
    if (this.#video.srcObject !== this.#stream) this.#video.srcObject = this.#stream;
  };

  readonly #onConnectionState = (): void => {
    const state = this.#pc?.connectionState;
    if (state === 'connected') {
      this.#clearDisconnect();
    } else if (state === 'failed') {
      this.#lost(webrtcError(this.#established ? 'connectionLost' : 'iceFailed'));
    } else if (state === 'disconnected' && this.#established && this.#disconnectTimer === null) {
      this.#disconnectTimer = setTimeout(() => {
        this.#disconnectTimer = null;
        this.#lost(webrtcError('connectionLost'));
      }, this.#timings.disconnectGraceMs);
    }
  };

  async #pollStats(): Promise<void> {
    const pc = this.#pc;
    if (!pc || this.#destroyed) return;
    let frames = 0;
    try {
      const stats = await pc.getStats();
      stats.forEach((report: { type?: string; kind?: string; framesDecoded?: number }) => {
        if (report.type === 'inbound-rtp' && report.kind === 'video') frames += report.framesDecoded ?? 0;
      });
      const receiver = pc.getReceivers().find((r) => r.track.kind === 'video');
      const source = receiver?.getSynchronizationSources()[0] as (RTCRtpSynchronizationSource & { captureTimestamp?: number }) | undefined;
      // captureTimestamp is NTP-epoch (1900) milliseconds.
      if (source?.captureTimestamp && source.captureTimestamp > NTP_UNIX_OFFSET_MS) {
        this.#onCapture(source.captureTimestamp - NTP_UNIX_OFFSET_MS, source.rtpTimestamp);
      }
    } catch {
      return;
    }
    if (this.#destroyed || frames === this.#framesDecoded) return;
    this.#framesDecoded = frames;
    this.#onFrames(frames);
    if (frames > 0 && !this.#established && !this.#finished) {
      this.#established = true;
      this.#clearFirstFrame();
      this.#onOutcome({ kind: 'frames' });
    }
  }

  /** Before frames: the attempt failed. After: the session dropped. Reported once either way. */
  #lost(error: PlayerError): void {
    if (this.#established) {
      if (this.#finished) return;
      this.#finished = true;
      this.#clearTimers();
      this.#onOutcome({ kind: 'dropped', error });
    } else {
      this.#fail(error);
    }
  }

  #fail(error: PlayerError): void {
    if (this.#finished || this.#established || this.#destroyed) return;
    this.#finished = true;
    this.#clearTimers();
    this.#onOutcome({ kind: 'failed', error });
  }

  #clearFirstFrame(): void {
    if (this.#firstFrameTimer !== null) clearTimeout(this.#firstFrameTimer);
    this.#firstFrameTimer = null;
  }

  #clearDisconnect(): void {
    if (this.#disconnectTimer !== null) clearTimeout(this.#disconnectTimer);
    this.#disconnectTimer = null;
  }

  #clearTimers(): void {
    this.#clearFirstFrame();
    this.#clearDisconnect();
    if (this.#statsTimer !== null) clearInterval(this.#statsTimer);
    this.#statsTimer = null;
  }
}

/**
 * Latency of a WebRTC frame: when it will be shown minus when the camera captured it, both on
 * this page's performance clock (Chrome maps captureTime from the RTCP sender reports, which the
 * edge stamps with the ingest wall clock). `clockOffsetMs` corrects for this machine's wall clock
 * against the edge's (synced clock minus Date.now()). Null when the frame has no captureTime.
 */
export function frameLatency(metadata: Pick<VideoFrameCallbackMetadata, 'expectedDisplayTime' | 'captureTime'>, clockOffsetMs = 0): number | null {
  const { captureTime, expectedDisplayTime } = metadata;
  // 0 is what a frame without a sender report would carry; no real capture is at time origin.
  if (typeof captureTime !== 'number' || !Number.isFinite(captureTime) || captureTime === 0) return null;
  return Math.round(expectedDisplayTime - captureTime + clockOffsetMs);
}

const NTP_UNIX_OFFSET_MS = 2_208_988_800_000;

/** Keeps the metadata of the last frame presented on a <video>; feeds the latency badge. */
export class FrameLatency {
  readonly #video: HTMLVideoElement;
  #handle: number | null = null;
  #last: Pick<VideoFrameCallbackMetadata, 'expectedDisplayTime' | 'captureTime' | 'rtpTimestamp'> | null = null;
  #destroyed = false;

  constructor(video: HTMLVideoElement) {
    this.#video = video;
    if (typeof video.requestVideoFrameCallback === 'function') this.#request();
  }

  #capture: { unixMs: number; rtpTimestamp: number } | null = null;

  /** Latest abs-capture-time reading: edge wall clock of the frame with this RTP timestamp. */
  setCapture(unixMs: number, rtpTimestamp: number): void {
    this.#capture = { unixMs, rtpTimestamp };
  }

  /**
   * Edge ingest wall clock (origin clock, Unix ms) of the last presented frame: the media time an
   * annotation drawn on it carries. Null until a frame with capture time or abs-capture-time.
   */
  mediaTime(): number | null {
    const last = this.#last;
    if (!last) return null;
    const { captureTime } = last;
    // Same mapping as measure(): captureTime is on this page's performance clock.
    if (typeof captureTime === 'number' && Number.isFinite(captureTime) && captureTime !== 0) return performance.timeOrigin + captureTime;
    const c = this.#capture;
    if (!c || typeof last.rtpTimestamp !== 'number') return null;
    return c.unixMs - ((c.rtpTimestamp - last.rtpTimestamp) | 0) / 90;
  }

  /** Latency of the last presented frame, for a clock `nowMs` (the badge's injectable clock). */
  measure(nowMs: number): number | null {
    const last = this.#last;
    const fromFrame = last ? frameLatency(last, nowMs - Date.now()) : null;
    if (fromFrame !== null) return fromFrame;
    // Chrome leaves captureTime out for receive-only peers (no RTT to map sender reports with);
    // abs-capture-time gives the edge clock of a recent frame, and RTP time (90 kHz) reaches
    // back from it to the frame on screen.
    const c = this.#capture;
    if (!last || !c || typeof last.rtpTimestamp !== 'number') return null;
    const frameCaptureMs = c.unixMs - ((c.rtpTimestamp - last.rtpTimestamp) | 0) / 90;
    return Math.round(performance.timeOrigin + last.expectedDisplayTime - frameCaptureMs + (nowMs - Date.now()));
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (this.#handle !== null) this.#video.cancelVideoFrameCallback(this.#handle);
    this.#handle = null;
  }

  #request(): void {
    this.#handle = this.#video.requestVideoFrameCallback((_now, metadata) => {
      if (this.#destroyed) return;
      this.#last = { expectedDisplayTime: metadata.expectedDisplayTime, captureTime: metadata.captureTime, rtpTimestamp: metadata.rtpTimestamp };
      this.#request();
    });
  }
}
