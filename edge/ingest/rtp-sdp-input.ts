import { createSocket, type Socket } from 'node:dgram';
import type { FastifyBaseLogger } from 'fastify';
import { rtpInputSdp } from '../../codecs/rtp/index.js';
import type { TranscodeInput } from '../../codecs/profiles/index.js';
import { InvalidStateError } from '../../lib/errors.js';
import { freeUdpPortPair, udpPortsBound } from '../../lib/net.js';
import type { EncoderPort, MediaInput } from './media-input.js';

export interface RtpSdpInputOptions {
  /** Negotiated H.264 payload type and fmtp (RTP is forwarded unchanged, so these must match). */
  video: { payloadType: number; fmtp?: string };
  /** Negotiated Opus, if the publisher sends audio. */
  audio?: { payloadType: number; channels: number; fmtp?: string };
  /** Session name in the SDP (ffmpeg's logs). */
  name: string;
  /** Ask the publisher for a keyframe (RTCP PLI). */
  requestKeyframe: (reason: string) => void;
  log: FastifyBaseLogger;
}

/** Repeat keyframe requests this often until the encoder has been sent one. */
export const KEYFRAME_RETRY_MS = 2000;
/** How long a fresh encoder may take to bind its RTP ports before we stop waiting. */
const BIND_WAIT_MS = 5000;
const BIND_POLL_MS = 10;
/** Without /proc/net/udp we cannot see the bind; assume it happened after this long. */
const BIND_GUESS_MS = 300;

interface Target {
  video: number;
  audio: number | undefined;
}

/**
 * WHIP media into the profile pipeline: every encoder gets an SDP on stdin naming fresh loopback
 * UDP ports, and the publisher's RTP is forwarded there unchanged. A fresh encoder can only start
 * at a keyframe, so once it listens we ask the publisher for one (PLI) and repeat every 2 s until
 * a keyframe has been forwarded to it. Packets that arrive while no encoder listens are dropped
 * (live media: no point queueing what a new encoder cannot decode without a keyframe anyway).
 */
export class RtpSdpInput implements MediaInput {
  readonly kind = 'whip' as const;
  readonly transcodeInput: TranscodeInput = { kind: 'sdp' };
  readonly #options: RtpSdpInputOptions;
  readonly #socket: Socket;
  #target: Target | null = null;
  #generation = 0;
  #listening = false;
  #awaitingKeyframe = true;
  #retryTimer: NodeJS.Timeout | null = null;
  #closed = false;
  readonly #stats = { videoPackets: 0, audioPackets: 0, forwardedPackets: 0, keyframes: 0, keyframeRequests: 0, encoderAttaches: 0 };

  constructor(options: RtpSdpInputOptions) {
    this.#options = options;
    this.#socket = createSocket('udp4');
    // Sends to a port nobody listens on yet are fine to lose; never let them crash the edge.
    this.#socket.on('error', (err) => options.log.debug({ err }, 'RTP forward socket error'));
    this.#socket.bind(0, '127.0.0.1');
  }

  get stats(): Record<string, unknown> {
    return { ...this.#stats, listening: this.#listening, awaitingKeyframe: this.#awaitingKeyframe, ports: this.#target };
  }

  attach(encoder: EncoderPort): () => void {
    if (this.#closed) throw new InvalidStateError('WHIP media input');
    const generation = ++this.#generation;
    this.#resetEncoderState();
    this.#stats.encoderAttaches += 1;
    const current = (): boolean => generation === this.#generation && !this.#closed;
    void (async () => {
      const target = await this.#pickPorts();
      if (!current()) return;
      const sdp = rtpInputSdp({
        name: this.#options.name,
        video: { port: target.video, ...this.#options.video },
        ...(this.#options.audio && target.audio !== undefined ? { audio: { port: target.audio, ...this.#options.audio } } : {}),
      });
      encoder.stdin.end(sdp);
      this.#target = target;
      const ports = [target.video, ...(target.audio !== undefined ? [target.audio] : [])];
      const deadline = Date.now() + BIND_WAIT_MS;
      for (;;) {
        const bound = await udpPortsBound(ports);
        if (!current()) return;
        if (bound === null) {
          await sleep(BIND_GUESS_MS);
          break;
        }
        if (bound) break;
        if (Date.now() > deadline) {
          encoder.restart(`encoder did not bind RTP ports ${ports.join(',')} within ${BIND_WAIT_MS} ms`);
          return;
        }
        await sleep(BIND_POLL_MS);
      }
      if (!current()) return;
      this.#listening = true;
      this.#requestKeyframe('encoder listening');
      this.#retryTimer = setInterval(() => {
        if (this.#awaitingKeyframe) this.#requestKeyframe('no keyframe yet');
      }, KEYFRAME_RETRY_MS);
    })().catch((err: unknown) => {
      if (current()) encoder.restart(`RTP input setup failed: ${(err as Error).message}`);
    });
    return () => {
      if (generation !== this.#generation) return;
      this.#generation += 1;
      this.#resetEncoderState();
    };
  }

  /** One RTP packet from the publisher (serialized, unchanged). keyframe: it starts an IDR. */
  pushRtp(kind: 'video' | 'audio', packet: Buffer, keyframe = false): void {
    if (this.#closed) return;
    if (kind === 'video') this.#stats.videoPackets += 1;
    else this.#stats.audioPackets += 1;
    const target = this.#target;
    const port = kind === 'video' ? target?.video : target?.audio;
    if (port === undefined) return;
    this.#socket.send(packet, port, '127.0.0.1');
    this.#stats.forwardedPackets += 1;
    if (kind === 'video' && keyframe) {
      this.#stats.keyframes += 1;
      // Only a keyframe that reached a listening encoder counts; earlier ones hit a closed port.
      if (this.#listening && this.#awaitingKeyframe) {
        this.#awaitingKeyframe = false;
        this.#clearRetry();
      }
    }
  }

  /** The publisher's first video packet: a fresh track may still need a keyframe for the encoder. */
  trackStarted(): void {
    if (this.#listening && this.#awaitingKeyframe) this.#requestKeyframe('track started');
  }

  /** Stop forwarding and release the socket. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#generation += 1;
    this.#resetEncoderState();
    this.#socket.close();
  }

  #resetEncoderState(): void {
    this.#clearRetry();
    this.#target = null;
    this.#listening = false;
    this.#awaitingKeyframe = true;
  }

  #clearRetry(): void {
    if (this.#retryTimer) clearInterval(this.#retryTimer);
    this.#retryTimer = null;
  }

  #requestKeyframe(reason: string): void {
    this.#stats.keyframeRequests += 1;
    this.#options.requestKeyframe(reason);
  }

  async #pickPorts(): Promise<Target> {
    const video = await freeUdpPortPair('127.0.0.1');
    if (!this.#options.audio) return { video, audio: undefined };
    for (;;) {
      const audio = await freeUdpPortPair('127.0.0.1');
      if (audio !== video) return { video, audio };
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
