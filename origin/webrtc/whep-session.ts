import { randomUUID } from 'node:crypto';
import { RTCPeerConnection, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RtpHeader, RtpPacket, type RTCRtpSender, type RTCRtpTransceiver } from 'werift';
import type { RtpOut } from '../../codecs/rtp/index.js';
import { ScopecastError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { announceAddress, h264Codec, iceConfig, waitForGathering, type IceOptions } from '../../lib/webrtc.js';
import { ntpFromUnixMs } from './ntp.js';

export type WhepIceOptions = IceOptions;

export interface WhepSessionEvents extends Record<string, unknown[]> {
  /** The viewer's transport is up: media can flow. */
  connected: [];
  /** The session ended; reason says who ended it. Emitted once. */
  closed: [reason: 'deleted' | 'failed' | 'stream-ended' | 'server-closed' | 'slow' | 'revoked'];
}

const PACKETS_PER_TURN = 8;
/**
 * Per-frame capture time in the RTP header. Chrome shows a remote frame's captureTime (and so our
 * latency badge) only from this extension or from sender reports mapped with an RTT, which a
 * receive-only viewer never has; the value is the edge ingest wall clock, like our SRs.
 */
export const ABS_CAPTURE_TIME_URI = 'http://www.webrtc.org/experiments/rtp-hdrext/abs-capture-time';
/**
 * We see 'connected' when our side of DTLS finishes; the viewer's SRTP keys may be ready a few
 * ms later, and a keyframe sent into that gap is lost (the viewer then waits a whole GOP).
 */
const DTLS_SETTLE_MS = 150;

function setStreamId(sender: RTCRtpSender, id: string): void {
  (sender as unknown as { streamIds: string[] }).streamIds = [id];
}

/** abs-capture-time payload: the 64-bit NTP capture timestamp (no clock offset field). */
function absCaptureTime(wallClockMs: number): Buffer {
  const buf = Buffer.alloc(8);
  buf.writeBigUInt64BE(ntpFromUnixMs(wallClockMs));
  return buf;
}


/** Cheap structural check before werift parses it: a clear 400 instead of a stack trace. */
export function checkOffer(sdp: string, maxBytes: number): void {
  if (Buffer.byteLength(sdp) > maxBytes) throw new ScopecastError('SC_ERR_SDP', `offer larger than ${maxBytes} bytes`);
  if (!sdp.startsWith('v=0')) throw new ScopecastError('SC_ERR_SDP', 'not an SDP offer (must start with v=0)');
  if (!/^m=video /m.test(sdp)) throw new ScopecastError('SC_ERR_SDP', 'offer has no video m-line');
  if (!/^a=ice-ufrag:/m.test(sdp) || !/^a=fingerprint:/m.test(sdp)) throw new ScopecastError('SC_ERR_SDP', 'offer lacks ICE credentials or a DTLS fingerprint');
  if (!/H264\/90000/i.test(sdp)) throw new ScopecastError('SC_ERR_SDP', 'offer does not accept H.264');
}

/**
 * One WHEP viewer: a werift peer connection with one send-only H.264 sender. Frames come from
 * the stream's shared packetizer; each viewer starts on a keyframe, keeps its own contiguous
 * sequence numbers, and is skipped to the next keyframe when it falls behind.
 */
export class WhepSession extends TypedEmitter<WhepSessionEvents> {
  readonly id = randomUUID();
  readonly stream: string;
  readonly createdAt = Date.now();
  readonly #pc: RTCPeerConnection;
  readonly #maxInFlight: number;
  #sender: RTCRtpSender | null = null;
  #audioSender: RTCRtpSender | null = null;
  #waitForKeyframe = true;
  #seqSkipped = 0;
  #inFlight = 0;
  readonly #queue: Array<{ out: RtpOut; seq: number; wallClockMs: number | undefined; capture: Buffer | null }> = [];
  #pacing = false;
  #sentFrames = 0;
  #skippedFrames = 0;
  #connected = false;
  #mediaFrom = Number.POSITIVE_INFINITY;
  #audioSeqSkipped = 0;
  /** Whether the first frame this viewer was sent was a keyframe (it must be). */
  #firstFrameKeyframe: boolean | null = null;
  /** Frames of the current GOP this viewer started with (0 = waited for a new keyframe). */
  #fastStartFrames = 0;
  #audioSent = 0;
  #absCaptureTimeId: number | null = null;
  #closed = false;

  private constructor(stream: string, pc: RTCPeerConnection, maxInFlight: number) {
    super();
    this.stream = stream;
    this.#pc = pc;
    this.#maxInFlight = maxInFlight;
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && !this.#connected) {
        this.#connected = true;
        this.#mediaFrom = Date.now() + DTLS_SETTLE_MS;
        this.emit('connected');
      }
      if (state === 'failed' || state === 'closed') void this.close(state === 'failed' ? 'failed' : 'server-closed');
    });
  }

  /** Negotiate from the viewer's offer; resolves with the session and its complete answer. */
  static async create(stream: string, offer: string, ice: WhepIceOptions, maxInFlight: number): Promise<{ session: WhepSession; answer: string }> {
    const pc = new RTCPeerConnection({
      codecs: {
        video: [h264Codec()],
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      },
      headerExtensions: { video: [new RTCRtpHeaderExtensionParameters({ id: 9, uri: ABS_CAPTURE_TIME_URI })] },
      ...iceConfig(ice),
    });
    const session = new WhepSession(stream, pc, maxInFlight);
    try {
      await pc.setRemoteDescription({ type: 'offer', sdp: offer });
    } catch (err) {
      await pc.close().catch(() => {});
      throw new ScopecastError('SC_ERR_SDP', (err as Error).message.slice(0, 200));
    }
    try {
      const video = pc.getTransceivers().find((t: RTCRtpTransceiver) => t.kind === 'video');
      if (!video) throw new ScopecastError('SC_ERR_SDP', 'offer has no video transceiver');
      video.setDirection('sendonly');
      const audio = pc.getTransceivers().find((t: RTCRtpTransceiver) => t.kind === 'audio');
      for (const t of pc.getTransceivers()) if (t !== video && t !== audio) t.setDirection('inactive');
      session.#sender = video.sender;
      if (audio) {
        audio.setDirection('sendonly');
        session.#audioSender = audio.sender;
      }
      // Separate media streams (msid) for picture and sound: a browser then does not lip-sync
      // them, which would hold every frame back until its (later, buffered) audio can play. The
      // expert needs the picture now; sound follows within ~100 ms.
      setStreamId(video.sender, 'scopecast-video');
      if (audio) setStreamId(audio.sender, 'scopecast-audio');
      await pc.setLocalDescription(await pc.createAnswer());
      await waitForGathering(pc, 5000);
      const sdp = pc.localDescription?.sdp;
      if (!sdp) throw new ScopecastError('SC_ERR_WEBRTC_NEGOTIATION', 'no local description');
      if (!/^a=rtpmap:\d+ H264\/90000/m.test(sdp)) throw new ScopecastError('SC_ERR_SDP', 'no common H.264 codec with packetization-mode=1');
      const ext = new RegExp(`^a=extmap:(\\d+)(?:/\\w+)? ${ABS_CAPTURE_TIME_URI.replace(/[./]/g, '\\$&')}\\s*$`, 'm').exec(sdp);
      session.#absCaptureTimeId = ext ? Number(ext[1]) : null;
      return { session, answer: announceAddress(sdp, ice.announcedAddress) };
    } catch (err) {
      await session.close('server-closed');
      throw err instanceof ScopecastError ? err : new ScopecastError('SC_ERR_WEBRTC_NEGOTIATION', (err as Error).message.slice(0, 200));
    }
  }

  get info(): Record<string, unknown> {
    return {
      id: this.id,
      connected: this.#connected,
      sentFrames: this.#sentFrames,
      sentAudioPackets: this.#audioSent,
      firstFrameKeyframe: this.#firstFrameKeyframe,
      fastStartFrames: this.#fastStartFrames,
      skippedFrames: this.#skippedFrames,
      inFlight: this.#inFlight,
      ageMs: Date.now() - this.createdAt,
    };
  }

  /** Connected, past the DTLS settle time, and sent nothing yet: ready for its first keyframe. */
  get awaitingFirstFrame(): boolean {
    return !this.#closed && this.#connected && this.#firstFrameKeyframe === null && Date.now() >= this.#mediaFrom;
  }

  /** Start on frames already sent to others: the current GOP from its keyframe (oldest first). */
  fastStart(frames: ReadonlyArray<{ packets: RtpOut[]; keyframe: boolean; wallClockMs: number | undefined }>): void {
    if (!this.awaitingFirstFrame || !frames[0]?.keyframe) return;
    for (const f of frames) this.sendFrame(f.packets, f.keyframe, f.wallClockMs);
    this.#fastStartFrames = frames.length;
  }

  get skippedFrames(): number {
    return this.#skippedFrames;
  }

  /** Send one frame (all its packets), or skip it if this viewer must wait for a keyframe. */
  sendFrame(packets: readonly RtpOut[], keyframe: boolean, wallClockMs: number | undefined): void {
    const sender = this.#sender;
    if (this.#closed || !this.#connected || !sender || packets.length === 0 || Date.now() < this.#mediaFrom) return;
    if (this.#waitForKeyframe && keyframe) this.#waitForKeyframe = false;
    if (!this.#waitForKeyframe && this.#firstFrameKeyframe === null) this.#firstFrameKeyframe = keyframe;
    if (!this.#waitForKeyframe && this.#inFlight + packets.length > this.#maxInFlight) {
      // Behind: drop the rest of this GOP for this viewer only, resume at the next keyframe.
      this.#waitForKeyframe = true;
    }
    if (this.#waitForKeyframe) {
      this.#seqSkipped = (this.#seqSkipped + packets.length) & 0xffff;
      this.#skippedFrames += 1;
      return;
    }
    const capture = wallClockMs !== undefined && this.#absCaptureTimeId !== null ? absCaptureTime(wallClockMs) : null;
    for (let i = 0; i < packets.length; i++) {
      const out = packets[i]!;
      // Every packet carries the frame's wall clock: werift stamps each send with "now", and a
      // sender report built between two pacing turns must not pair an RTP time with that.
      this.#queue.push({ out, seq: (out.sequenceNumber - this.#seqSkipped) & 0xffff, wallClockMs, capture });
    }
    this.#inFlight += packets.length;
    if (!this.#pacing) this.#drain();
    this.#sentFrames += 1;
  }

  /**
   * One Opus packet. Audio is small and steady (50 packets/s): sent at once, from the moment
   * video is flowing to this viewer, so the first sound comes with the first picture.
   */
  sendAudio(out: RtpOut, wallClockMs: number | undefined): void {
    const sender = this.#audioSender;
    if (this.#closed || !sender || this.#waitForKeyframe || Date.now() < this.#mediaFrom) return;
    const header = new RtpHeader({ sequenceNumber: (out.sequenceNumber - this.#audioSeqSkipped) & 0xffff, timestamp: out.timestamp, marker: out.marker, payloadType: 0 });
    sender.sendRtp(new RtpPacket(header, out.payload)).catch(() => {});
    if (wallClockMs !== undefined) (sender as unknown as { ntpTimestamp: bigint }).ntpTimestamp = ntpFromUnixMs(wallClockMs);
    this.#audioSent += 1;
  }

  /** Count an Opus packet this viewer did not get, so its sequence numbers stay contiguous. */
  skipAudio(): void {
    if (this.#audioSent > 0) return; // after the start, gaps are real losses
    this.#audioSeqSkipped = (this.#audioSeqSkipped + 1) & 0xffff;
  }

  // Pacing: a keyframe is dozens of packets; sending them in small batches across event-loop
  // turns keeps receivers (and our own socket buffers) from dropping the burst.
  #drain(): void {
    const sender = this.#sender;
    this.#pacing = false;
    if (this.#closed || !sender) {
      this.#queue.length = 0;
      return;
    }
    for (let n = 0; n < PACKETS_PER_TURN; n++) {
      const item = this.#queue.shift();
      if (!item) return;
      const header = new RtpHeader({ sequenceNumber: item.seq, timestamp: item.out.timestamp, marker: item.out.marker, payloadType: 0 });
      if (item.capture && this.#absCaptureTimeId !== null) header.extensions = [{ id: this.#absCaptureTimeId, payload: item.capture }];
      sender.sendRtp(new RtpPacket(header, item.out.payload)).then(
        () => (this.#inFlight -= 1),
        () => (this.#inFlight -= 1),
      );
      // Sender reports map this RTP time to the edge's ingest wall clock, not our send time.
      // (werift keeps the field private in its types; it reads it when it builds each SR.)
      if (item.wallClockMs !== undefined) (sender as unknown as { ntpTimestamp: bigint }).ntpTimestamp = ntpFromUnixMs(item.wallClockMs);
    }
    if (this.#queue.length > 0) {
      this.#pacing = true;
      setImmediate(() => this.#drain());
    }
  }

  /** End the peer connection. Idempotent; emits closed once. */
  async close(reason: WhepSessionEvents['closed'][0] = 'server-closed'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.emit('closed', reason);
    await this.#pc.close().catch(() => {});
  }
}

