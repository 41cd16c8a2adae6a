import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useTransportWideCC,
  type MediaStreamTrack,
  type RTCRtpTransceiver,
  type RtpPacket,
} from 'werift';
import { isH264KeyframePayload } from '../../codecs/rtp/index.js';
import { ScopecastError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { announceAddress, iceConfig, waitForGathering, type IceOptions } from '../../lib/webrtc.js';
import { RtpSdpInput } from './rtp-sdp-input.js';

export type WhipIceOptions = IceOptions;

export interface WhipSessionOptions {
  ice: WhipIceOptions;
  /** ICE + DTLS must be up within this many ms. */
  connectTimeoutMs: number;
  /** A connected publisher silent (no RTP) this long is ended. */
  silenceTimeoutMs: number;
  log: FastifyBaseLogger;
}

export type WhipCloseReason = 'deleted' | 'failed' | 'silent' | 'connect-timeout' | 'server-closed';

export interface WhipSessionEvents extends Record<string, unknown[]> {
  /** ICE + DTLS are up. */
  connected: [];
  /** The publish ended; emitted once. */
  closed: [reason: WhipCloseReason];
}

const WATCHDOG_MS = 500;

/**
 * Cheap structural check of a WHIP offer before werift parses it: a clear 400 (SC_ERR_SDP)
 * instead of a stack trace. The offer must be complete (no trickle), send video, and offer
 * H.264 with packetization-mode=1.
 */
export function checkWhipOffer(sdp: string, maxBytes: number): void {
  if (Buffer.byteLength(sdp) > maxBytes) throw new ScopecastError('SC_ERR_SDP', `offer larger than ${maxBytes} bytes`);
  if (!sdp.startsWith('v=0')) throw new ScopecastError('SC_ERR_SDP', 'not an SDP offer (must start with v=0)');
  const sections = sdp.split(/\r?\n(?=m=)/);
  const video = sections.find((s) => s.startsWith('m=video '));
  if (!video) throw new ScopecastError('SC_ERR_SDP', 'offer has no video m-line');
  if (/^a=(recvonly|inactive)\s*$/m.test(video)) throw new ScopecastError('SC_ERR_SDP', 'the video m-line does not send (a WHIP offer is sendonly)');
  if (!/^a=ice-ufrag:/m.test(sdp) || !/^a=fingerprint:/m.test(sdp)) throw new ScopecastError('SC_ERR_SDP', 'offer lacks ICE credentials or a DTLS fingerprint');
  const h264 = [...video.matchAll(/^a=rtpmap:(\d+) H264\/90000/gim)].map((m) => m[1]);
  if (h264.length === 0) throw new ScopecastError('SC_ERR_SDP', 'offer does not send H.264 (only H.264 is accepted)');
  const modeOne = h264.some((pt) => new RegExp(`^a=fmtp:${pt} .*packetization-mode=1`, 'm').test(video));
  if (!modeOne) throw new ScopecastError('SC_ERR_SDP', 'offer has no H.264 with packetization-mode=1');
}

/** The offered codec to receive: the publisher's first H.264 with packetization-mode=1. */
export function pickH264(codecs: readonly RTCRtpCodecParameters[]): RTCRtpCodecParameters | undefined {
  return codecs.find((c) => c.mimeType.toLowerCase() === 'video/h264' && /(^|;)\s*packetization-mode=1/.test(c.parameters ?? ''));
}

/**
 * One WHIP publisher: a werift peer connection receiving H.264 (and Opus if offered) whose RTP
 * goes unchanged into an RtpSdpInput for the stream's encoder. Ends itself when the connection
 * fails, never comes up, or goes silent.
 */
export class WhipSession extends TypedEmitter<WhipSessionEvents> {
  readonly id = randomUUID();
  readonly stream: string;
  readonly createdAt = Date.now();
  readonly input: RtpSdpInput;
  readonly #pc: RTCPeerConnection;
  readonly #options: WhipSessionOptions;
  readonly #log: FastifyBaseLogger;
  readonly #watchdog: NodeJS.Timeout;
  #videoTransceiver: RTCRtpTransceiver | null = null;
  #videoSsrc: number | null = null;
  #connectedAt: number | null = null;
  #lastRtpAt = 0;
  #closed = false;

  private constructor(stream: string, pc: RTCPeerConnection, input: RtpSdpInput, options: WhipSessionOptions, log: FastifyBaseLogger) {
    super();
    this.stream = stream;
    this.#pc = pc;
    this.input = input;
    this.#options = options;
    this.#log = log;
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && this.#connectedAt === null) {
        this.#connectedAt = Date.now();
        this.#lastRtpAt = this.#connectedAt;
        this.#log.info({ setupMs: this.#connectedAt - this.createdAt }, 'WHIP publisher connected');
        this.emit('connected');
      }
      if (state === 'failed' || state === 'closed') void this.close('failed');
    });
    this.#watchdog = setInterval(() => this.#check(), WATCHDOG_MS);
  }

  /** Negotiate from the publisher's complete offer; resolves with the session and its complete answer. */
  static async create(stream: string, offer: string, options: WhipSessionOptions): Promise<{ session: WhipSession; answer: string }> {
    const { ice } = options;
    const log = options.log.child({ stream, ingest: 'whip' });
    const pc = new RTCPeerConnection({
      codecs: {
        // werift keeps every offered codec of a listed mime type; the one we receive is chosen below.
        video: [new RTCRtpCodecParameters({ mimeType: 'video/H264', clockRate: 90000, rtcpFeedback: [{ type: 'nack' }, { type: 'nack', parameter: 'pli' }, { type: 'transport-cc' }] })],
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      },
      // Transport-wide CC feedback lets a browser raise its bitrate beyond the start estimate.
      headerExtensions: { video: [useTransportWideCC()], audio: [] },
      ...iceConfig(ice),
    });
    let session: WhipSession | null = null;
    const tracks: MediaStreamTrack[] = [];
    // Tracks may be announced during setRemoteDescription: collect them until the session exists.
    pc.onTrack.subscribe((track) => (session ? session.#onTrack(track) : tracks.push(track)));
    try {
      try {
        await pc.setRemoteDescription({ type: 'offer', sdp: offer });
      } catch (err) {
        throw new ScopecastError('SC_ERR_SDP', (err as Error).message.slice(0, 200));
      }
      const transceivers = pc.getTransceivers();
      const video = transceivers.find((t) => t.kind === 'video');
      const h264 = video ? pickH264(video.codecs) : undefined;
      if (!video || !h264) throw new ScopecastError('SC_ERR_SDP', 'offer has no H.264 with packetization-mode=1');
      // Answer exactly one video codec so the publisher sends the payload type the encoder's SDP names.
      video.codecs = [h264];
      video.setDirection('recvonly');
      const audio = transceivers.find((t) => t.kind === 'audio');
      const opus = audio?.codecs.find((c) => c.mimeType.toLowerCase() === 'audio/opus');
      if (audio && opus) {
        audio.codecs = [opus];
        audio.setDirection('recvonly');
      }
      for (const t of transceivers) if (t !== video && t !== audio) t.setDirection('inactive');
      const input = new RtpSdpInput({
        name: stream,
        video: { payloadType: h264.payloadType, ...(h264.parameters ? { fmtp: h264.parameters } : {}) },
        ...(audio && opus ? { audio: { payloadType: opus.payloadType, channels: opus.channels ?? 2, ...(opus.parameters ? { fmtp: opus.parameters } : {}) } } : {}),
        requestKeyframe: (reason) => session?.requestKeyframe(reason),
        log,
      });
      session = new WhipSession(stream, pc, input, options, log);
      session.#videoTransceiver = video;
      for (const track of tracks.splice(0)) session.#onTrack(track);
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForGathering(pc, 5000);
      const sdp = pc.localDescription?.sdp;
      if (!sdp) throw new ScopecastError('SC_ERR_WEBRTC_NEGOTIATION', 'no local description');
      return { session, answer: announceAddress(sdp, ice.announcedAddress) };
    } catch (err) {
      if (session) await session.close('server-closed');
      else await pc.close().catch(() => {});
      throw err instanceof ScopecastError ? err : new ScopecastError('SC_ERR_WEBRTC_NEGOTIATION', (err as Error).message.slice(0, 200));
    }
  }

  get connected(): boolean {
    return this.#connectedAt !== null;
  }

  get info(): Record<string, unknown> {
    return { id: this.id, connected: this.connected, ageMs: Date.now() - this.createdAt, input: this.input.stats };
  }

  /** Send an RTCP PLI for the publisher's video (no-op before its SSRC is known). */
  requestKeyframe(reason: string): void {
    const receiver = this.#videoTransceiver?.receiver;
    if (this.#closed || !receiver || this.#videoSsrc === null) return;
    this.#log.debug({ reason }, 'requesting keyframe (PLI)');
    void receiver.sendRtcpPLI(this.#videoSsrc).catch(() => {});
  }

  /** End the publish. Idempotent; emits closed once. */
  async close(reason: WhipCloseReason = 'server-closed'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#watchdog);
    this.input.close();
    this.#log.info({ reason, ...this.input.stats }, 'WHIP publish ended');
    this.emit('closed', reason);
    await this.#pc.close().catch(() => {});
  }

  #onTrack(track: MediaStreamTrack): void {
    const kind = track.kind === 'video' ? 'video' : track.kind === 'audio' ? 'audio' : null;
    if (!kind) return;
    if (kind === 'video' && track.ssrc !== undefined) this.#videoSsrc ??= track.ssrc;
    let first = true;
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      if (this.#closed) return;
      this.#lastRtpAt = Date.now();
      // Padding-only packets (bandwidth probes) carry no media; the decoder would only log them.
      if (rtp.payload.length === 0) return;
      if (kind === 'video') {
        if (this.#videoSsrc === null) this.#videoSsrc = track.ssrc ?? rtp.header.ssrc;
        this.input.pushRtp('video', rtp.serialize(), isH264KeyframePayload(rtp.payload));
        if (first) {
          first = false;
          this.#log.info({ afterMs: Date.now() - this.createdAt, ssrc: rtp.header.ssrc, pt: rtp.header.payloadType }, 'first video RTP');
          this.input.trackStarted();
        }
      } else {
        this.input.pushRtp('audio', rtp.serialize());
      }
    });
  }

  #check(): void {
    const now = Date.now();
    if (this.#connectedAt === null) {
      if (now - this.createdAt > this.#options.connectTimeoutMs) void this.close('connect-timeout');
      return;
    }
    if (now - this.#lastRtpAt > this.#options.silenceTimeoutMs) void this.close('silent');
  }
}

