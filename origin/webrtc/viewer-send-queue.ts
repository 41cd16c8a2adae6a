// One WebRTC viewer's paced, age-bounded video send queue (used by WhepSession). Pure: no
// timers, no I/O; the caller's clock drives it, so tests replay any event-loop timing exactly.
import type { RtpOut } from '../../codecs/rtp/index.js';

export const DEFAULT_VIEWER_MAX_QUEUE_MS = 250;
/**
 * Pacing (see ViewerSendQueueOptions): a keyframe is dozens of packets, and sent in one go they can
 * overflow a receiver's socket buffer or a router queue on the way. So packets leave at 80 Mbit/s
 * of payload after a 16 KB burst (a 100 KB keyframe over ~10 ms). A viewer behind that schedule
 * (after a late turn) catches up one chunk per loop turn: 16 KB, or 10 Mbit/s times the turn's
 * length when turns are long, at most 64 KB (~53 packets: a receiver's socket buffer must hold
 * it until its next read; a receiver on the same event loop reads 32 datagrams a turn). So the
 * queue keeps up with a 4 Mbit/s stream at turns of up to ~120 ms, and a short stall does not
 * become one big burst; on a loop slower than that, frames age out (maxQueueMs) instead of
 * queueing up.
 */
export const VIEWER_PACING = { paceBytesPerMs: 10_000, burstBytes: 16_000, catchUpBytesPerMs: 1_250, maxChunkBytes: 64_000 } as const;
export interface QueuedPacket {
  out: RtpOut;
  /** This viewer's contiguous sequence number (frames skipped for it leave no gap). */
  seq: number;
  /** Edge ingest wall clock of the packet's frame, Unix ms. */
  wallClockMs: number | undefined;
}

export interface ViewerSendQueueOptions {
  /**
   * Memory cap: packets queued plus handed to the transport and not yet settled. A frame that
   * would exceed it is skipped and the viewer resumes at the next keyframe.
   */
  maxPackets: number;
  /**
   * Age cap, ms: a frame still wholly queued this long after it was pushed means the viewer is
   * behind. The queued frames are dropped and the viewer resumes at the next keyframe.
   */
  maxQueueMs: number;
  /** Pacing rate, payload bytes per ms of the caller's clock (not per call of take). */
  paceBytesPerMs: number;
  /**
   * Payload bytes an idle queue may send at once before the rate applies, and the least one
   * take() may hand out when the queue is behind its schedule.
   */
  burstBytes: number;
  /**
   * Behind schedule, one take() hands out at most max(burstBytes, this * ms since the previous
   * take) payload bytes, and never more than maxChunkBytes: a late call catches up in chunks (the
   * caller yields to I/O between them) instead of one burst, yet long turns get this rate, above
   * the stream's.
   */
  catchUpBytesPerMs: number;
  /** The most one take() hands out: a receiver must absorb it between two of its reads. */
  maxChunkBytes: number;
}

interface QueuedFrame {
  packets: QueuedPacket[];
  /** Index of the next packet to hand out; > 0 = started (it is finished, never torn). */
  next: number;
  queuedAt: number;
}

/**
 * One viewer's video send queue: pure, driven by the caller's clock. Frames go in whole
 * (`push`); `take(now)` hands out the packets that are due at a steady byte rate, so a keyframe is
 * spread over a few ms instead of flooding the socket. The schedule is in time, not in calls: a
 * late call (a slow event-loop turn) gets what became due meanwhile, in a chunk that grows with
 * the time since the previous call, so a slowly turning loop does not make the queue fall
 * behind (the fixed 8 packets a turn this replaces did). A frame that waited longer than `maxQueueMs` without starting out means the
 * viewer is behind: the waiting frames are dropped and the viewer resumes at the next keyframe,
 * with its sequence numbers contiguous. A frame already started is always finished, so a
 * receiver never sees a torn frame.
 */
export class ViewerSendQueue {
  readonly #options: ViewerSendQueueOptions;
  readonly #frames: QueuedFrame[] = [];
  #waitForKeyframe = true;
  /** Packets of the shared packetizer this viewer never got (its sequence numbers skip them). */
  #seqSkipped = 0;
  #queuedPackets = 0;
  #inFlight = 0;
  /** Virtual send clock, ms: when the paced link is free again. */
  #linkFreeAt = Number.NEGATIVE_INFINITY;
  #lastTakeAt = Number.NEGATIVE_INFINITY;
  /** Until then frames count as queued at this time: a fast-start backlog is old on purpose. */
  #backlogUntil = Number.NEGATIVE_INFINITY;
  #queuedFrames = 0;
  #sentFrames = 0;
  #skippedFrames = 0;
  #lateSkips = 0;
  #capSkips = 0;

  constructor(options: ViewerSendQueueOptions) {
    this.#options = options;
  }

  /** True until a keyframe is accepted, and again after the viewer fell behind. */
  get waitingForKeyframe(): boolean {
    return this.#waitForKeyframe;
  }

  get stats(): ViewerSendQueueStats {
    return {
      queuedPackets: this.#queuedPackets,
      inFlight: this.#inFlight,
      queuedFrames: this.#queuedFrames,
      sentFrames: this.#sentFrames,
      skippedFrames: this.#skippedFrames,
      lateSkips: this.#lateSkips,
      capSkips: this.#capSkips,
    };
  }

  /**
   * Queue one frame (all its packets, in order). Returns false when the frame is skipped: the
   * viewer waits for a keyframe, or it fell behind (by age or by the memory cap).
   */
  push(packets: readonly RtpOut[], keyframe: boolean, wallClockMs: number | undefined, now: number): boolean {
    if (packets.length === 0) return false;
    this.#expire(now);
    if (this.#waitForKeyframe && keyframe) this.#waitForKeyframe = false;
    if (!this.#waitForKeyframe && this.#queuedPackets + this.#inFlight + packets.length > this.#options.maxPackets) {
      this.#waitForKeyframe = true;
      this.#capSkips += 1;
    }
    if (this.#waitForKeyframe) {
      this.#seqSkipped = (this.#seqSkipped + packets.length) & 0xffff;
      this.#skippedFrames += 1;
      return false;
    }
    const queued: QueuedPacket[] = packets.map((out) => ({ out, seq: (out.sequenceNumber - this.#seqSkipped) & 0xffff, wallClockMs }));
    // An idle link may send one burst at once; a backlog keeps its schedule (see take).
    if (this.#frames.length === 0) this.#linkFreeAt = Math.max(this.#linkFreeAt, now - this.#options.burstBytes / this.#options.paceBytesPerMs);
    this.#frames.push({ packets: queued, next: 0, queuedAt: Math.max(now, this.#backlogUntil) });
    this.#queuedPackets += queued.length;
    this.#queuedFrames += 1;
    return true;
  }

  /**
   * Queue a deliberate backlog at once (a fast start: the current GOP from its keyframe). It is
   * old on purpose, and a slow loop drains it at the catch-up rate only, so the age cap counts
   * from the time that rate needs for it: this backlog and the frames queued behind it meanwhile
   * are not taken for a viewer that fell behind. A backlog over the memory cap is not queued at
   * all (the viewer starts at the next keyframe instead of on half a GOP). Returns how many
   * frames were queued.
   */
  pushBacklog(frames: ReadonlyArray<{ packets: readonly RtpOut[]; keyframe: boolean; wallClockMs: number | undefined }>, now: number): number {
    let bytes = 0;
    let packets = 0;
    for (const f of frames) for (const p of f.packets) {
      bytes += p.payload.length;
      packets += 1;
    }
    if (this.#queuedPackets + this.#inFlight + packets > this.#options.maxPackets) return 0;
    this.#backlogUntil = now + bytes / this.#options.catchUpBytesPerMs;
    let queued = 0;
    for (const f of frames) if (this.push(f.packets, f.keyframe, f.wallClockMs, now)) queued += 1;
    return queued;
  }

  /**
   * The packets due at `now`, in order, and when to call again: null = nothing queued; `now` =
   * more is due (behind schedule): call again after other I/O; later = the next packet's slot.
   * The caller reports each handed-out packet's end with `settled()`.
   */
  take(now: number): { packets: QueuedPacket[]; wakeAt: number | null } {
    this.#expire(now);
    const { paceBytesPerMs, burstBytes, catchUpBytesPerMs, maxChunkBytes } = this.#options;
    const chunk = Math.min(maxChunkBytes, Math.max(burstBytes, (now - this.#lastTakeAt) * catchUpBytesPerMs));
    this.#lastTakeAt = now;
    // A packet is due once the paced link has sent it. The schedule runs on from the backlog's
    // start whenever take() is called: a late call finds all of it due, and catches up in chunks.
    let clock = this.#linkFreeAt;
    let bytes = 0;
    let wakeAt: number | null = null;
    const out: QueuedPacket[] = [];
    while (this.#frames.length > 0) {
      const frame = this.#frames[0]!;
      const packet = frame.packets[frame.next]!;
      const size = packet.out.payload.length;
      const sentAt = clock + size / paceBytesPerMs;
      if (sentAt > now) {
        wakeAt = sentAt;
        break;
      }
      if (out.length > 0 && bytes + size > chunk) {
        wakeAt = now;
        break;
      }
      out.push(packet);
      bytes += size;
      clock = sentAt;
      frame.next += 1;
      if (frame.next === frame.packets.length) {
        this.#frames.shift();
        this.#sentFrames += 1;
      }
    }
    this.#linkFreeAt = clock;
    this.#queuedPackets -= out.length;
    this.#inFlight += out.length;
    return { packets: out, wakeAt };
  }

  /** `count` packets handed out by take() have left (sent or failed). */
  settled(count = 1): void {
    this.#inFlight = Math.max(0, this.#inFlight - count);
  }

  /** Drop everything (the viewer closed). */
  clear(): void {
    this.#frames.length = 0;
    this.#queuedPackets = 0;
  }

  /** Drop the frames that waited too long to start; the viewer resumes at the next keyframe. */
  #expire(now: number): void {
    const first = this.#frames[0]?.next === 0 ? 0 : 1;
    const oldest = this.#frames[first];
    if (!oldest || now - oldest.queuedAt <= this.#options.maxQueueMs) return;
    const dropped = this.#frames.splice(first);
    let packets = 0;
    for (const f of dropped) packets += f.packets.length;
    this.#queuedPackets -= packets;
    // The dropped packets had this viewer's next sequence numbers: the frames after them take those.
    this.#seqSkipped = (this.#seqSkipped + packets) & 0xffff;
    this.#skippedFrames += dropped.length;
    this.#lateSkips += 1;
    this.#waitForKeyframe = true;
  }
}

export interface ViewerSendQueueStats {
  /** Packets waiting to be paced out. */
  queuedPackets: number;
  /** Packets handed to the transport and not yet settled. */
  inFlight: number;
  /** Frames accepted into the queue. */
  queuedFrames: number;
  /** Frames whose last packet was handed out. */
  sentFrames: number;
  /** Frames this viewer did not get: waiting for a keyframe, or dropped from its queue. */
  skippedFrames: number;
  /** Times the queue was dropped because a frame waited longer than maxQueueMs. */
  lateSkips: number;
  /** Times a frame was skipped because the memory cap (maxPackets) was reached. */
  capSkips: number;
}
