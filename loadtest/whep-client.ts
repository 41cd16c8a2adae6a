// A WHEP viewer in Node (werift): negotiates like a browser would (complete offer, no trickle),
// reassembles H.264 access units from RTP and maps each to the edge wall clock through the
// RTCP sender reports. Used by tests and the WebRTC latency bench.
import { RTCPeerConnection, RtcpSrPacket, type RtpPacket } from 'werift';
import { depacketizeH264 } from '../codecs/rtp/index.js';
import { TypedEmitter } from '../lib/typed-emitter.js';
import { h264Codec, waitForGathering } from '../lib/webrtc.js';

export interface WhepFrame {
  /** Annex-B access unit. */
  annexB: Buffer;
  rtpTimestamp: number;
  keyframe: boolean;
  receivedAtMs: number;
  /** Edge ingest wall clock of this frame from the last sender report, if one arrived. */
  senderWallClockMs: number | undefined;
}

export interface WhepClientEvents extends Record<string, unknown[]> {
  frame: [frame: WhepFrame];
  /** A frame could not be reassembled (lost packet). */
  broken: [rtpTimestamp: number];
  connectionState: [state: string];
}

export interface WhepClientOptions {
  /** Bind ICE to this address only (tests: 127.0.0.1). */
  interfaceAddress?: string;
  /** Access token (expert, surgeon or admin for the stream), sent as `Authorization: Bearer` on POST and DELETE. */
  token?: string;
}

/**
 * POST a complete SDP offer (WHIP or WHEP) with extra request headers (a bearer token); resolves
 * with the answer on 201, else rejects with an Error carrying `status` and `body`.
 */
export async function postSdpOffer(url: string, offer: string, what: 'WHIP' | 'WHEP', headers: Record<string, string> = {}): Promise<{ answer: string; location: string; status: number }> {
  const res = await fetch(url, { method: 'POST', headers: { ...headers, 'content-type': 'application/sdp' }, body: offer });
  const body = await res.text();
  if (res.status !== 201) throw Object.assign(new Error(`${what} POST ${res.status}: ${body.slice(0, 300)}`), { status: res.status, body });
  return { answer: body, location: res.headers.get('location') ?? '', status: res.status };
}

export class WhepClient extends TypedEmitter<WhepClientEvents> {
  readonly #pc: RTCPeerConnection;
  readonly #headers: Record<string, string>;
  #location: string | null = null;
  #base = '';
  readonly #pending = new Map<number, PendingFrame>();
  #lastEmittedTs: number | null = null;
  #lastMarkerSeq: number | null = null;
  #timer: NodeJS.Timeout | null = null;
  #sr: { ntpMs: number; rtp: number } | null = null;
  #closed = false;

  constructor(options: WhepClientOptions = {}) {
    super();
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.#pc = new RTCPeerConnection({
      codecs: {
        video: [h264Codec()],
      },
      ...(options.interfaceAddress ? { iceInterfaceAddresses: { udp4: options.interfaceAddress }, iceAdditionalHostAddresses: [options.interfaceAddress] } : {}),
      iceUseIpv6: false,
    });
    this.#pc.connectionStateChange.subscribe((s) => this.emit('connectionState', s));
  }

  /** POST the offer to e.g. http://origin/whep/<stream>; resolves once the answer is applied. */
  async connect(url: string): Promise<{ status: number; location: string }> {
    const transceiver = this.#pc.addTransceiver('video', { direction: 'recvonly' });
    transceiver.onTrack.subscribe((track) => {
      track.onReceiveRtp.subscribe((rtp) => this.#onRtp(rtp));
      track.onReceiveRtcp.subscribe((rtcp) => {
        if (rtcp instanceof RtcpSrPacket) {
          const ntp = rtcp.senderInfo.ntpTimestamp;
          const ms = (Number(ntp >> 32n) - 2208988800 + Number(ntp & 0xffffffffn) / 2 ** 32) * 1000;
          this.#sr = { ntpMs: ms, rtp: rtcp.senderInfo.rtpTimestamp };
        }
      });
    });
    await this.#pc.setLocalDescription(await this.#pc.createOffer());
    await waitForGathering(this.#pc, 5000);
    const { answer, location, status } = await postSdpOffer(url, this.#pc.localDescription?.sdp ?? '', 'WHEP', this.#headers);
    this.#location = location || null;
    this.#base = new URL(url).origin;
    await this.#pc.setRemoteDescription({ type: 'answer', sdp: answer });
    return { status, location };
  }

  /** DELETE the session (if any) and close the peer connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#location) await fetch(this.#base + this.#location, { method: 'DELETE', headers: this.#headers }).catch(() => {});
    await this.#pc.close().catch(() => {});
  }

  // A small jitter buffer: frames are keyed by RTP timestamp and emitted in order once every
  // packet between the previous frame's marker and this one's has arrived (NACK retransmissions
  // may come late); a frame still incomplete after MAX_WAIT_MS is given up as broken.
  #onRtp(rtp: RtpPacket): void {
    const ts = rtp.header.timestamp;
    let frame = this.#pending.get(ts);
    if (!frame) {
      if (this.#lastEmittedTs !== null && ((ts - this.#lastEmittedTs) | 0) <= 0) return; // too late
      frame = { packets: new Map(), markerSeq: null, firstSeenAt: Date.now() };
      this.#pending.set(ts, frame);
    }
    frame.packets.set(rtp.header.sequenceNumber, rtp);
    if (rtp.header.marker) frame.markerSeq = rtp.header.sequenceNumber;
    this.#flush();
  }

  #flush(): void {
    for (;;) {
      const next = [...this.#pending.keys()].sort((a, b) => ((a - b) | 0))[0];
      if (next === undefined) return;
      const frame = this.#pending.get(next)!;
      const complete = frame.markerSeq !== null && this.#complete(frame);
      if (!complete && Date.now() - frame.firstSeenAt < MAX_WAIT_MS) {
        if (!this.#timer) this.#timer = setTimeout(() => ((this.#timer = null), this.#flush()), MAX_WAIT_MS);
        return;
      }
      this.#pending.delete(next);
      this.#lastEmittedTs = next;
      if (frame.markerSeq !== null) this.#lastMarkerSeq = frame.markerSeq;
      if (!complete) {
        this.emit('broken', next);
        continue;
      }
      const packets = [...frame.packets.values()].sort((a, b) => ((a.header.sequenceNumber - b.header.sequenceNumber + 0x8000) & 0xffff) - 0x8000);
      try {
        const annexB = depacketizeH264(packets.map((p) => p.payload));
        const sr = this.#sr;
        const senderWallClockMs = sr ? sr.ntpMs + (((next - sr.rtp) | 0) / 90000) * 1000 : undefined;
        this.emit('frame', { annexB, rtpTimestamp: next, keyframe: hasIdr(annexB), receivedAtMs: Date.now(), senderWallClockMs });
      } catch {
        this.emit('broken', next);
      }
    }
  }

  /** Every sequence number from just after the previous marker up to this frame's marker is here. */
  #complete(frame: PendingFrame): boolean {
    const end = frame.markerSeq!;
    if (this.#lastMarkerSeq === null) {
      // First frame: no previous marker to count from; trust a run that starts a NAL unit.
      try {
        depacketizeH264([...frame.packets.values()].sort((a, b) => ((a.header.sequenceNumber - b.header.sequenceNumber + 0x8000) & 0xffff) - 0x8000).map((p) => p.payload));
        return true;
      } catch {
        return false;
      }
    }
    for (let seq = (this.#lastMarkerSeq + 1) & 0xffff; ; seq = (seq + 1) & 0xffff) {
      if (!frame.packets.has(seq)) return false;
      if (seq === end) return true;
    }
  }
}

interface PendingFrame {
  packets: Map<number, RtpPacket>;
  markerSeq: number | null;
  firstSeenAt: number;
}

const MAX_WAIT_MS = 150;

function hasIdr(annexB: Buffer): boolean {
  for (let i = 0; i + 4 < annexB.length; i++) {
    if (annexB[i] === 0 && annexB[i + 1] === 0 && annexB[i + 2] === 1 && ((annexB[i + 3] ?? 0) & 0x1f) === 5) return true;
  }
  return false;
}
