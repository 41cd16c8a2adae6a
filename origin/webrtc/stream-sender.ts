import { randomInt } from 'node:crypto';
import { H264Packetizer, OpusPacketizer, toRtpTimestamp, type RtpOut } from '../../codecs/rtp/index.js';
import type { RealtimeAudio, RealtimeFeed, RealtimeFrame } from './realtime-feed.js';
import type { WhepSession } from './whep-session.js';

/**
 * The WebRTC side of one live stream: one packetizer shared by every viewer (each frame is
 * packetized once), the stream's viewers, and an RTP clock that stays continuous when the
 * edge's encoder restarts (new init generation, media time back at zero).
 */
export class WebRtcStreamSender {
  readonly #feed: RealtimeFeed;
  readonly #packetizer = new H264Packetizer();
  readonly #opus = new OpusPacketizer();
  readonly #audioClock = new ContinuousClock(48000, 960);
  readonly #sessions = new Set<WhepSession>();
  readonly #offFeed: Array<() => void> = [];
  readonly #rtpBase = randomInt(0, 2 ** 31);
  /** RTP ticks added to the current generation's media time. */
  #generationOffset = 0;
  #generation = -1;
  #lastTimestamp: number | null = null;
  #lastTicks = 0;
  #closed = false;

  constructor(feed: RealtimeFeed) {
    this.#feed = feed;
    const onFrame = (frame: RealtimeFrame): void => this.#onFrame(frame);
    const onAudio = (packet: RealtimeAudio): void => this.#onAudio(packet);
    feed.on('audio', onAudio);
    this.#offFeed.push(() => feed.off('audio', onAudio));
    const onEnded = (): void => {
      for (const s of [...this.#sessions]) void s.close('stream-ended');
    };
    feed.on('frame', onFrame);
    feed.on('ended', onEnded);
    this.#offFeed.push(() => feed.off('frame', onFrame), () => feed.off('ended', onEnded));
  }

  get viewers(): number {
    return this.#sessions.size;
  }

  get sessions(): readonly WhepSession[] {
    return [...this.#sessions];
  }

  add(session: WhepSession): void {
    this.#sessions.add(session);
    session.once('closed', () => this.#sessions.delete(session));
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#offFeed) off();
    for (const s of [...this.#sessions]) void s.close('server-closed');
  }

  #onFrame(frame: RealtimeFrame): void {
    const track = this.#feed.track;
    if (!track || this.#sessions.size === 0) {
      this.#track(frame);
      return;
    }
    const timestamp = this.#track(frame);
    let packets: RtpOut[];
    try {
      packets = this.#packetizer.packetize(frame.data, {
        nalLengthSize: track.nalLengthSize ?? 4,
        keyframe: frame.keyframe,
        sps: track.sps ?? [],
        pps: track.pps ?? [],
        rtpTimestamp: timestamp,
      });
    } catch {
      return; // a malformed sample is dropped; the next keyframe resynchronises viewers
    }
    for (const session of this.#sessions) session.sendFrame(packets, frame.keyframe, frame.wallClockMs);
  }

  #onAudio(packet: RealtimeAudio): void {
    const timestamp = this.#audioClock.timestamp(packet.pts, packet.timescale, packet.generation);
    if (this.#sessions.size === 0) return;
    let out: RtpOut;
    try {
      out = this.#opus.packetize(packet.data, timestamp);
    } catch {
      return;
    }
    for (const session of this.#sessions) {
      session.sendAudio(out, packet.wallClockMs);
      session.skipAudio();
    }
  }

  /** 90 kHz timestamp for a frame, continuous across encoder generations. */
  #track(frame: RealtimeFrame): number {
    const ticks = toRtpTimestamp(frame.pts, frame.timescale, 90000);
    if (frame.generation !== this.#generation) {
      // Continue one frame (~33 ms) after the last timestamp the viewers saw.
      this.#generationOffset = this.#lastTimestamp === null ? 0 : this.#lastTicks + 3000 - ticks;
      this.#generation = frame.generation;
    }
    const continuous = ticks + this.#generationOffset;
    this.#lastTicks = continuous;
    const timestamp = (((continuous + this.#rtpBase) % 2 ** 32) + 2 ** 32) % 2 ** 32;
    this.#lastTimestamp = timestamp;
    return timestamp;
  }
}

/** An RTP clock that continues (one packet later) when the encoder restarts at media time 0. */
class ContinuousClock {
  readonly #rate: number;
  readonly #step: number;
  readonly #base = randomInt(0, 2 ** 31);
  #generation = -1;
  #offset = 0;
  #last: number | null = null;

  constructor(rate: number, step: number) {
    this.#rate = rate;
    this.#step = step;
  }

  timestamp(pts: number, timescale: number, generation: number): number {
    const ticks = toRtpTimestamp(pts, timescale, this.#rate);
    if (generation !== this.#generation) {
      this.#offset = this.#last === null ? 0 : this.#last + this.#step - ticks;
      this.#generation = generation;
    }
    this.#last = ticks + this.#offset;
    return (((this.#last + this.#base) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  }
}
