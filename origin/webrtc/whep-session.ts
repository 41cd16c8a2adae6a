import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RTCPeerConnection, RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RtpHeader, RtpPacket, type RTCRtpSender, type RTCRtpTransceiver } from 'werift';
import type { RtpOut } from '../../codecs/rtp/index.js';
import { ScopecastError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { announceAddress, h264Codec, iceConfig, waitForGathering, type IceOptions } from '../../lib/webrtc.js';
import { ntpFromUnixMs } from './ntp.js';
import { DEFAULT_VIEWER_MAX_QUEUE_MS, VIEWER_PACING, ViewerSendQueue, type QueuedPacket } from './viewer-send-queue.js';

export type WhepIceOptions = IceOptions;

/** How a session is set up: its ICE settings and the bound on its send queue. */
export interface WhepSessionOptions extends WhepIceOptions {
  /**
   * A frame waiting in a viewer's send queue longer than this means the viewer is behind: its
   * queue is dropped and it resumes at the next keyframe, ms (config webrtc.viewerMaxQueueMs;
   * default DEFAULT_VIEWER_MAX_QUEUE_MS).
   */
  viewerMaxQueueMs?: number;
}

export interface WhepSessionEvents extends Record<string, unknown[]> {
  /** The viewer's transport is up: media can flow. */
  connected: [];
  /** The session ended; reason says who ended it. Emitted once. */
  closed: [reason: 'deleted' | 'failed' | 'stream-ended' | 'server-closed' | 'slow' | 'revoked'];
}

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

/** One RTP packet of a queued frame, with the sequence number this viewer sees. */
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
  #sender: RTCRtpSender | null = null;
  #audioSender: RTCRtpSender | null = null;
  readonly #queue: ViewerSendQueue;
  /** The pending drain of the send queue (a pacing timer, or the next turn when behind), if any. */
  #drainTimer: { cancel: () => void } | null = null;
  /** The abs-capture-time payload of the last frame sent (its packets share it). */
  #capture: { wallClockMs: number; payload: Buffer } | null = null;
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

  private constructor(stream: string, pc: RTCPeerConnection, maxInFlight: number, maxQueueMs: number) {
    super();
    this.stream = stream;
    this.#pc = pc;
    this.#queue = new ViewerSendQueue({ maxPackets: maxInFlight, maxQueueMs, ...VIEWER_PACING });
    pc.connectionStateChange.subscribe((state) => {
      if (state === 'connected' && !this.#connected) {
        this.#connected = true;
        this.#mediaFrom = Date.now() + DTLS_SETTLE_MS;
        this.emit('connected');
      }
      if (state === 'failed' || state === 'closed') void this.close(state === 'failed' ? 'failed' : 'server-closed');
    });
  }

  /**
   * Negotiate from the viewer's offer; resolves with the session and its complete answer.
   * maxInFlight: packets queued or in flight before the viewer is skipped to the next keyframe.
   */
  static async create(stream: string, offer: string, options: WhepSessionOptions, maxInFlight: number): Promise<{ session: WhepSession; answer: string }> {
    const pc = new RTCPeerConnection({
      codecs: {
        video: [h264Codec()],
        audio: [new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 })],
      },
      headerExtensions: { video: [new RTCRtpHeaderExtensionParameters({ id: 9, uri: ABS_CAPTURE_TIME_URI })] },
      ...iceConfig(options),
    });
    const session = new WhepSession(stream, pc, maxInFlight, options.viewerMaxQueueMs ?? DEFAULT_VIEWER_MAX_QUEUE_MS);
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
      return { session, answer: announceAddress(sdp, options.announcedAddress) };
    } catch (err) {
      await session.close('server-closed');
      throw err instanceof ScopecastError ? err : new ScopecastError('SC_ERR_WEBRTC_NEGOTIATION', (err as Error).message.slice(0, 200));
    }
  }

  get info(): Record<string, unknown> {
    const q = this.#queue.stats;
    return {
      id: this.id,
      connected: this.#connected,
      sentFrames: q.sentFrames,
      sentAudioPackets: this.#audioSent,
      firstFrameKeyframe: this.#firstFrameKeyframe,
      fastStartFrames: this.#fastStartFrames,
      skippedFrames: q.skippedFrames,
      /** Times the viewer's queue was dropped because a frame waited longer than viewerMaxQueueMs. */
      lateSkips: q.lateSkips,
      /** Times a frame was skipped because viewerQueuePackets were queued or in flight. */
      capSkips: q.capSkips,
      queuedPackets: q.queuedPackets,
      inFlight: q.inFlight,
      ageMs: Date.now() - this.createdAt,
    };
  }

  /** Connected, past the DTLS settle time, and sent nothing yet: ready for its first keyframe. */
  get awaitingFirstFrame(): boolean {
    return !this.#closed && this.#connected && this.#firstFrameKeyframe === null && Date.now() >= this.#mediaFrom;
  }

  /** Start on frames already sent to others: the current GOP from its keyframe (oldest first). */
  fastStart(frames: ReadonlyArray<{ packets: RtpOut[]; keyframe: boolean; wallClockMs: number | undefined }>): void {
    if (!this.awaitingFirstFrame || !frames[0]?.keyframe || !this.#sender) return;
    const queued = this.#queue.pushBacklog(frames, performance.now());
    if (queued === 0) return;
    this.#firstFrameKeyframe = true;
    this.#fastStartFrames = queued;
    if (!this.#drainTimer) this.#drain();
  }

  get skippedFrames(): number {
    return this.#queue.stats.skippedFrames;
  }

  /**
   * Queue one frame (all its packets) and send what is due, or skip it: this viewer waits for a
   * keyframe, or it is behind (a frame waited too long, or too many packets are queued) and
   * resumes at the next keyframe, for this viewer only.
   */
  sendFrame(packets: readonly RtpOut[], keyframe: boolean, wallClockMs: number | undefined): void {
    if (this.#closed || !this.#connected || !this.#sender || packets.length === 0 || Date.now() < this.#mediaFrom) return;
    const queued = this.#queue.push(packets, keyframe, wallClockMs, performance.now());
    if (queued && this.#firstFrameKeyframe === null) this.#firstFrameKeyframe = keyframe;
    if (queued && !this.#drainTimer) this.#drain();
  }

  /**
   * One Opus packet. Audio is small and steady (50 packets/s): sent at once, from the moment
   * video is flowing to this viewer, so the first sound comes with the first picture.
   */
  sendAudio(out: RtpOut, wallClockMs: number | undefined): void {
    const sender = this.#audioSender;
    if (this.#closed || !sender || this.#queue.waitingForKeyframe || Date.now() < this.#mediaFrom) return;
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

  /** Send the packets the queue says are due; then drain again at the next packet's slot, or on the next turn when behind. */
  #drain(): void {
    const sender = this.#sender;
    if (this.#closed || !sender) return;
    const now = performance.now();
    const { packets, wakeAt } = this.#queue.take(now);
    for (const item of packets) {
      const header = new RtpHeader({ sequenceNumber: item.seq, timestamp: item.out.timestamp, marker: item.out.marker, payloadType: 0 });
      const capture = this.#captureFor(item.wallClockMs);
      if (capture && this.#absCaptureTimeId !== null) header.extensions = [{ id: this.#absCaptureTimeId, payload: capture }];
      const settled = (): void => this.#queue.settled();
      sender.sendRtp(new RtpPacket(header, item.out.payload)).then(settled, settled);
      // Sender reports map this RTP time to the edge's ingest wall clock, not our send time.
      // (werift keeps the field private in its types; it reads it when it builds each SR.) Every
      // packet sets it: werift stamps each send with "now", and a sender report built between
      // two drains must not pair an RTP time with that.
      if (item.wallClockMs !== undefined) (sender as unknown as { ntpTimestamp: bigint }).ntpTimestamp = ntpFromUnixMs(item.wallClockMs);
    }
    if (wakeAt === null) return;
    // Behind schedule: the next chunk after this turn's other I/O; else at the next packet's slot.
    const drain = (): void => {
      this.#drainTimer = null;
      this.#drain();
    };
    if (wakeAt <= now) {
      const immediate = setImmediate(drain);
      this.#drainTimer = { cancel: () => clearImmediate(immediate) };
    } else {
      const timer = setTimeout(drain, Math.max(1, Math.ceil(wakeAt - now)));
      this.#drainTimer = { cancel: () => clearTimeout(timer) };
    }
  }

  /** The abs-capture-time payload for a frame's wall clock (shared by the packets of one frame). */
  #captureFor(wallClockMs: number | undefined): Buffer | null {
    if (wallClockMs === undefined || this.#absCaptureTimeId === null) return null;
    if (this.#capture?.wallClockMs !== wallClockMs) this.#capture = { wallClockMs, payload: absCaptureTime(wallClockMs) };
    return this.#capture.payload;
  }

  /** End the peer connection. Idempotent; emits closed once. */
  async close(reason: WhepSessionEvents['closed'][0] = 'server-closed'): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#drainTimer?.cancel();
    this.#drainTimer = null;
    this.#queue.clear();
    this.emit('closed', reason);
    await this.#pc.close().catch(() => {});
  }
}

