// WHEP (draft-ietf-wish-whep) as the scopecast edge implements it: one complete SDP offer (ICE
// gathered first, no trickle) POSTed as application/sdp; 201 with the SDP answer and a Location
// naming the session; DELETE <Location> ends it. Failures are returned as PlayerError data; the
// pure parts (codec order, answer check, error mapping) are exported for tests.
import type { PlayerError } from '../watch/types.js';

export const WEBRTC_ERROR = 'webrtcError';

/** A WHEP failure as data; thrown by the functions below, caught by the session. */
export class WhepError extends Error {
  readonly error: PlayerError;

  constructor(error: PlayerError, message: string) {
    super(message);
    this.name = 'WhepError';
    this.error = error;
  }
}

export function webrtcError(details: string, extra: Partial<PlayerError> = {}): PlayerError {
  return { type: WEBRTC_ERROR, details, fatal: true, ...extra };
}

/** The part of RTCRtpCodec the ordering looks at. */
export interface CodecLike {
  mimeType: string;
  sdpFmtpLine?: string;
}

/**
 * The codecs to offer for `mimeType` (e.g. 'video/H264'), best first, followed by their
 * retransmission entries. H264: packetization-mode=1 before 0, constrained baseline before other
 * profiles (what the edge sends without transcoding). Empty when the browser cannot decode it.
 */
export function preferredCodecs<C extends CodecLike>(codecs: readonly C[], mimeType: string): C[] {
  const want = mimeType.toLowerCase();
  const main = codecs.filter((c) => c.mimeType.toLowerCase() === want);
  if (main.length === 0) return [];
  const score = (c: C): number => {
    const fmtp = c.sdpFmtpLine ?? '';
    let s = 0;
    if (/packetization-mode=1/.test(fmtp)) s -= 2;
    if (/profile-level-id=42e0/i.test(fmtp)) s -= 1;
    return s;
  };
  const sorted = main.map((c, i) => ({ c, i })).sort((a, b) => score(a.c) - score(b.c) || a.i - b.i).map(({ c }) => c);
  const rtx = codecs.filter((c) => c.mimeType.toLowerCase() === `${want.split('/')[0]}/rtx`);
  return [...sorted, ...rtx];
}

/** True when `text` looks like an SDP answer we can hand to setRemoteDescription. */
export function isSdpAnswer(text: string): boolean {
  return /^v=0\r?\n/.test(text) && /\r?\nm=video /.test(text);
}

/** Maps a non-201 WHEP response (its JSON error body, when there is one) to PlayerError data. */
export function whepResponseError(status: number, body: string): PlayerError {
  const error = webrtcError('whepRejected', { httpStatus: status });
  try {
    const parsed: unknown = JSON.parse(body);
    if (parsed && typeof parsed === 'object' && 'code' in parsed && typeof parsed.code === 'string') {
      error.code = parsed.code;
    }
  } catch {
    // Not our JSON error: status alone says enough.
  }
  return error;
}

/** Resolves the Location header against the POST URL; null when absent. */
export function sessionUrl(location: string | null, postUrl: string, base: string): string | null {
  if (!location) return null;
  try {
    return new URL(location, new URL(postUrl, base)).toString();
  } catch {
    return null;
  }
}

function preferCodecs(transceiver: RTCRtpTransceiver, kind: 'video' | 'audio', mimeType: string): void {
  const capabilities = RTCRtpReceiver.getCapabilities(kind);
  const codecs = capabilities ? preferredCodecs(capabilities.codecs, mimeType) : [];
  if (codecs.length > 0) transceiver.setCodecPreferences(codecs);
}

function gatheringComplete(pc: RTCPeerConnection, timeoutMs: number, signal: AbortSignal): Promise<void> {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', onChange);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const onChange = (): void => {
      if (pc.iceGatheringState === 'complete') done();
    };
    // Host candidates are enough against an ICE-lite edge; do not wait forever for the rest.
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener('icegatheringstatechange', onChange);
    signal.addEventListener('abort', done);
  });
}

/**
 * Adds recvonly video (H264 only) and recvonly audio (opus only), sets the local offer and waits
 * for ICE gathering, so the returned SDP carries every candidate (WHEP without trickle).
 */
export async function createWhepOffer(pc: RTCPeerConnection, gatherTimeoutMs: number, signal: AbortSignal): Promise<string> {
  const video = pc.addTransceiver('video', { direction: 'recvonly' });
  preferCodecs(video, 'video', 'video/H264');
  // Guidance needs the picture now, not smooth: ask the jitter buffer for as little delay as it
  // can manage (Chrome otherwise settles around 100 ms on a clean network).
  const receiver = video.receiver as RTCRtpReceiver & { jitterBufferTarget?: number | null };
  if ('jitterBufferTarget' in receiver) receiver.jitterBufferTarget = 0;
  enableAbsCaptureTime(video);
  preferCodecs(pc.addTransceiver('audio', { direction: 'recvonly' }), 'audio', 'audio/opus');
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringComplete(pc, gatherTimeoutMs, signal);
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new WhepError(webrtcError('offerFailed'), 'no local description');
  return sdp;
}

export interface WhepAnswer {
  sdp: string;
  /** Absolute URL of the session resource, for DELETE; null if the server sent no Location. */
  session: string | null;
}

/**
 * POSTs the offer. Resolves with the answer; throws WhepError for a network failure, a non-201
 * status, or a 201 whose body is not SDP. A 201 created a session even when its body is garbage,
 * so the session URL is handed to `onSession` as soon as it is known, for the caller to DELETE.
 */
export async function postWhepOffer(
  url: string,
  offer: string,
  options: { signal: AbortSignal; fetch?: typeof fetch; base?: string; onSession?: (session: string) => void; headers?: Record<string, string> },
): Promise<WhepAnswer> {
  const doFetch = options.fetch ?? fetch;
  let response: Response;
  try {
    response = await doFetch(url, {
      method: 'POST',
      headers: { ...options.headers, 'Content-Type': 'application/sdp', Accept: 'application/sdp' },
      body: offer,
      signal: options.signal,
      cache: 'no-store',
    });
  } catch (error) {
    throw new WhepError(webrtcError('whepNetworkError'), error instanceof Error ? error.message : String(error));
  }
  const body = await response.text().catch(() => '');
  if (response.status !== 201) {
    throw new WhepError(whepResponseError(response.status, body), `WHEP POST answered ${response.status}`);
  }
  const session = sessionUrl(response.headers.get('Location'), url, options.base ?? globalThis.location.href);
  if (session) options.onSession?.(session);
  if (!isSdpAnswer(body)) throw new WhepError(webrtcError('whepBadAnswer', { httpStatus: 201 }), 'WHEP answer is not SDP');
  return { sdp: body, session };
}

/**
 * Ends a WHEP session (with the same token as the POST). keepalive lets it outlive the page on
 * pagehide; failures are ignored (the origin drops a session whose ICE goes quiet anyway).
 */
export function deleteWhepSession(session: string, doFetch: typeof fetch = fetch, headers: Record<string, string> = {}): void {
  doFetch(session, { method: 'DELETE', keepalive: true, cache: 'no-store', headers }).catch(() => undefined);
}

const ABS_CAPTURE_TIME_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';

interface HeaderExtensionCapability {
  uri: string;
  direction: RTCRtpTransceiverDirection;
}

/**
 * Ask for the abs-capture-time header extension (Chrome supports it but does not offer it by
 * default): the origin stamps each frame with the edge ingest wall clock, and Chrome then fills
 * requestVideoFrameCallback's captureTime, which the latency badge reads. Without it a
 * receive-only peer has no way to map sender reports (no RTT) and the badge shows '—'.
 */
function enableAbsCaptureTime(transceiver: RTCRtpTransceiver): void {
  const t = transceiver as RTCRtpTransceiver & {
    getHeaderExtensionsToNegotiate?: () => HeaderExtensionCapability[];
    setHeaderExtensionsToNegotiate?: (extensions: HeaderExtensionCapability[]) => void;
  };
  if (!t.getHeaderExtensionsToNegotiate || !t.setHeaderExtensionsToNegotiate) return;
  try {
    const extensions = t.getHeaderExtensionsToNegotiate();
    const abs = extensions.find((e) => e.uri === ABS_CAPTURE_TIME_URI);
    if (!abs || abs.direction !== 'stopped') return;
    abs.direction = 'recvonly';
    t.setHeaderExtensionsToNegotiate(extensions);
  } catch {
    // Older browsers: no badge on WebRTC, playback unaffected.
  }
}
