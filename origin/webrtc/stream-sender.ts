import { randomInt } from 'node:crypto';
import { H264Packetizer, OpusPacketizer, toRtpTimestamp, type RtpOut } from '../../codecs/rtp/index.js';
import type { RealtimeAudio, RealtimeFeed, RealtimeFrame } from './realtime-feed.js';
import type { WhepSession } from './whep-session.js';

/** A packetized frame of the current GOP, kept so a new viewer can start without waiting. */
export interface CachedFrame {
  packets: RtpOut[];
  keyframe: boolean;
  wallClockMs: number | undefined;
  /** Arrival here, epoch ms. */
  arrivedAt: number;
}

/** A GOP longer than this is not cached (a stalled or keyframe-less encoder): viewers wait. */
const MAX_CACHED_FRAMES = 90;
/**
 * Media this much older than the stream's usual age (the least age seen over the last 10 s) is
 * not sent: after an uplink outage the edge's held frames arrive in a burst, and showing the
 * expert seconds-old pictures (then catching up) is worse than a short freeze. Relative, not
 * absolute: an edge whose encoder runs steadily behind (an overloaded box) still gets through.
 * Viewers resume at the next fresh keyframe.
 */
export const STALE_MEDIA_MS = 1000;
const AGE_WINDOW_MS = 10_000;

export interface StreamSenderOptions {
  /**
   * A new viewer starts on the current GOP's keyframe when it arrived at most this long ago
   * (its frames up to now are sent at once); otherwise it waits for the next keyframe. 0 = always
   * wait. The first picture is then at most this old, instead of up to one GOP away.
   */
  fastStartMaxAgeMs: number;
}

/**
 * The WebRTC side of one live stream: one packetizer shared by every viewer (each frame is
 * packetized once), the stream's viewers, an RTP clock that stays continuous when the edge's
 * encoder restarts (new init generation, media time back at zero), and the current GOP for a
 * fast start.
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
  readonly #fastStartMaxAgeMs: number;
  #gop: CachedFrame[] = [];
  /** Dropping stale media: nothing goes out until a fresh keyframe. */
  #resyncing = false;
  #staleFrames = 0;
  /** (arrival, age) of recent frames, for the usual age. */
  readonly #ages: Array<[number, number]> = [];

  constructor(feed: RealtimeFeed, options: StreamSenderOptions = { fastStartMaxAgeMs: 0 }) {
    this.#feed = feed;
    this.#fastStartMaxAgeMs = options.fastStartMaxAgeMs;
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

  /** Frames not sent because they arrived too old (uplink outage backlog). */
  get staleFrames(): number {
    return this.#staleFrames;
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
    const timestamp = this.#track(frame);
    if (!track) return;
    const stale = frame.wallClockMs !== undefined && this.#isStale(Date.now() - frame.wallClockMs);
    if (stale || (this.#resyncing && !frame.keyframe)) {
      this.#resyncing = true;
      this.#gop = [];
      this.#staleFrames += 1;
      return;
    }
    this.#resyncing = false;
    if (this.#sessions.size === 0 && this.#fastStartMaxAgeMs === 0) return;
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
      this.#gop = []; // a malformed sample is dropped; the next keyframe resynchronises viewers
      return;
    }
    this.#cache({ packets, keyframe: frame.keyframe, wallClockMs: frame.wallClockMs, arrivedAt: Date.now() });
    for (const session of this.#sessions) {
      if (session.awaitingFirstFrame && !frame.keyframe) this.#fastStart(session);
      session.sendFrame(packets, frame.keyframe, frame.wallClockMs);
    }
  }

  #isStale(ageMs: number): boolean {
    const now = Date.now();
    this.#ages.push([now, ageMs]);
    while (this.#ages.length > 0 && this.#ages[0]![0] < now - AGE_WINDOW_MS) this.#ages.shift();
    if (this.#ages.length > 1000) this.#ages.shift();
    return ageMs > this.#usualAge() + STALE_MEDIA_MS;
  }

  #usualAge(): number {
    let least = Number.POSITIVE_INFINITY;
    for (const [, age] of this.#ages) least = Math.min(least, age);
    return Number.isFinite(least) ? least : 0;
  }

  #cache(frame: CachedFrame): void {
    if (frame.keyframe) this.#gop = [frame];
    else if (this.#gop.length > 0 && this.#gop.length < MAX_CACHED_FRAMES) this.#gop.push(frame);
    else this.#gop = [];
  }

  /** Send a ready viewer the current GOP so far (keyframe first) if its keyframe is recent. */
  #fastStart(session: WhepSession): void {
    const key = this.#gop[0];
    if (!key || this.#gop.length < 2 || Date.now() - key.arrivedAt > this.#fastStartMaxAgeMs) return;
    // The last cached frame is the one being sent now: the caller sends it.
    session.fastStart(this.#gop.slice(0, -1));
  }

  #onAudio(packet: RealtimeAudio): void {
    const timestamp = this.#audioClock.timestamp(packet.pts, packet.timescale, packet.generation);
    if (this.#sessions.size === 0 || this.#resyncing) return;
    if (packet.wallClockMs !== undefined && Date.now() - packet.wallClockMs > this.#usualAge() + STALE_MEDIA_MS) return;
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
