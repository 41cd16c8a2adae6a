import { randomInt } from 'node:crypto';
import { ScopecastError } from '../../lib/errors.js';

// RFC 6184 H.264 RTP payload format, packetization-mode=1 (non-interleaved): single NAL unit
// packets, STAP-A and FU-A. Pure: input in, RTP payloads out, no I/O and no timers.

/** One RTP packet's worth of output; the sender adds SSRC and payload type and serializes. */
export interface RtpOut {
  /** RTP payload. May share memory with the input sample: do not mutate the sample afterwards. */
  payload: Buffer;
  marker: boolean;
  /** uint32 RTP timestamp. */
  timestamp: number;
  /** uint16 RTP sequence number. */
  sequenceNumber: number;
}

export interface H264PacketizerOptions {
  /** Largest RTP payload produced, bytes (default 1200: fits a 1500-byte MTU with IP/UDP/SRTP/RTP headers and extensions). */
  maxPayloadBytes?: number;
  /** First sequence number, 0..65535 (default random, as RFC 3550 recommends). */
  initialSequence?: number;
}

export interface H264AccessUnit {
  /** Bytes of each NAL unit length prefix (avcC lengthSizeMinusOne + 1): 1, 2 or 4. */
  nalLengthSize: number;
  /** The fMP4 sample is a sync sample: parameter sets are sent in front of it. */
  keyframe: boolean;
  /** Parameter sets from avcC, without length prefixes. */
  sps: readonly Buffer[];
  pps: readonly Buffer[];
  /** uint32 timestamp on every packet of the access unit (see toRtpTimestamp). */
  rtpTimestamp: number;
}

export const DEFAULT_MAX_PAYLOAD_BYTES = 1200;

/** NAL unit types (ITU-T H.264 table 7-1) and RTP packet types (RFC 6184 table 1). */
export const NAL_SPS = 7;
export const NAL_PPS = 8;
export const NAL_AUD = 9;
export const NAL_FILLER = 12;
export const NAL_STAP_A = 24;
export const NAL_FU_A = 28;

const TYPE_MASK = 0x1f;
const NRI_MASK = 0x60;
const FU_START = 0x80;
const FU_END = 0x40;
/** FU indicator + FU header. */
const FU_OVERHEAD = 2;
/** STAP-A: one header byte, then a 16-bit size before each NAL unit. */
const STAP_A_HEADER = 1;
const STAP_A_SIZE_FIELD = 2;
const MAX_STAP_A_NAL = 0xffff;
/** An FU-A must carry at least one byte of the NAL unit. */
const MIN_PAYLOAD_BYTES = FU_OVERHEAD + 1;

/** Cuts an AVCC sample into NAL units (views into `sample`). Throws SC_ERR_FMP4_PARSE. */
export function splitAvcc(sample: Buffer, nalLengthSize: number): Buffer[] {
  if (nalLengthSize !== 1 && nalLengthSize !== 2 && nalLengthSize !== 4) {
    throw new ScopecastError('SC_ERR_FMP4_PARSE', `NAL length size must be 1, 2 or 4, got ${nalLengthSize}`);
  }
  const nals: Buffer[] = [];
  let pos = 0;
  while (pos < sample.length) {
    if (pos + nalLengthSize > sample.length) {
      throw new ScopecastError('SC_ERR_FMP4_PARSE', `sample ends inside a NAL length prefix at byte ${pos} of ${sample.length}`);
    }
    const length = sample.readUIntBE(pos, nalLengthSize);
    pos += nalLengthSize;
    if (length === 0) throw new ScopecastError('SC_ERR_FMP4_PARSE', `zero-length NAL unit at byte ${pos - nalLengthSize} of the sample`);
    if (pos + length > sample.length) {
      throw new ScopecastError('SC_ERR_FMP4_PARSE', `NAL unit at byte ${pos - nalLengthSize} claims ${length} bytes but only ${sample.length - pos} remain`);
    }
    nals.push(sample.subarray(pos, pos + length));
    pos += length;
  }
  return nals;
}

/** RTP timestamps are uint32; anything else is a caller bug, not something to wrap silently. */
export function checkedTimestamp(rtpTimestamp: number): number {
  if (!Number.isInteger(rtpTimestamp) || rtpTimestamp < 0 || rtpTimestamp > 0xffff_ffff) {
    throw new RangeError(`rtpTimestamp must be an integer in 0..2^32-1, got ${rtpTimestamp}`);
  }
  return rtpTimestamp;
}

/** Sequence numbers: uint16, one per packet, wrapping 65535 -> 0. */
export function checkedInitialSequence(initialSequence: number | undefined): number {
  if (initialSequence === undefined) return randomInt(0, 0x10000);
  if (!Number.isInteger(initialSequence) || initialSequence < 0 || initialSequence > 0xffff) {
    throw new RangeError(`initialSequence must be an integer in 0..65535, got ${initialSequence}`);
  }
  return initialSequence;
}

export class H264Packetizer {
  readonly #maxPayloadBytes: number;
  #sequence: number;

  constructor(options: H264PacketizerOptions = {}) {
    const max = options.maxPayloadBytes ?? DEFAULT_MAX_PAYLOAD_BYTES;
    if (!Number.isInteger(max) || max < MIN_PAYLOAD_BYTES) {
      throw new RangeError(`maxPayloadBytes must be an integer >= ${MIN_PAYLOAD_BYTES}, got ${max}`);
    }
    this.#maxPayloadBytes = max;
    this.#sequence = checkedInitialSequence(options.initialSequence);
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.#sequence;
  }

  get maxPayloadBytes(): number {
    return this.#maxPayloadBytes;
  }

  /**
   * One access unit from an fMP4 sample (AVCC: NAL units each prefixed by a big-endian length of
   * nalLengthSize bytes) -> RTP payloads in order. Keyframes get SPS and PPS first (from avcC:
   * aggregated in one STAP-A when they fit, else as single NAL units or FU-A) so a viewer can
   * start at any keyframe. NALs that fit go as single NAL unit packets; larger ones as FU-A
   * fragments. AUD (9) and filler data (12) are dropped. marker=true on the last packet.
   *
   * A malformed sample throws SC_ERR_FMP4_PARSE and consumes no sequence numbers. A sample with
   * no NAL units left (empty, or only AUD/filler) yields no packets, not even parameter sets.
   */
  packetize(sample: Buffer, au: H264AccessUnit): RtpOut[] {
    const timestamp = checkedTimestamp(au.rtpTimestamp);
    const nals = splitAvcc(sample, au.nalLengthSize).filter((nal) => {
      const type = nal[0]! & TYPE_MASK;
      return type !== NAL_AUD && type !== NAL_FILLER;
    });
    if (nals.length === 0) return [];

    const payloads: Buffer[] = [];
    if (au.keyframe) this.#parameterSets([...au.sps, ...au.pps], payloads);
    for (const nal of nals) this.#nalUnit(nal, payloads);

    const last = payloads.length - 1;
    return payloads.map((payload, i) => {
      const sequenceNumber = this.#sequence;
      this.#sequence = (this.#sequence + 1) & 0xffff;
      return { payload, marker: i === last, timestamp, sequenceNumber };
    });
  }

  #parameterSets(sets: readonly Buffer[], out: Buffer[]): void {
    const present = sets.filter((s) => s.length > 0);
    if (present.length === 0) return;
    const stapBytes = present.reduce((sum, s) => sum + STAP_A_SIZE_FIELD + s.length, STAP_A_HEADER);
    if (present.length < 2 || stapBytes > this.#maxPayloadBytes || present.some((s) => s.length > MAX_STAP_A_NAL)) {
      for (const s of present) this.#nalUnit(s, out);
      return;
    }
    const stap = Buffer.allocUnsafe(stapBytes);
    // F is the OR of the aggregated F bits, NRI their maximum (RFC 6184 section 5.7.1).
    let forbidden = 0;
    let nri = 0;
    for (const s of present) {
      forbidden |= s[0]! & 0x80;
      nri = Math.max(nri, s[0]! & NRI_MASK);
    }
    stap[0] = forbidden | nri | NAL_STAP_A;
    let pos = STAP_A_HEADER;
    for (const s of present) {
      stap.writeUInt16BE(s.length, pos);
      s.copy(stap, pos + STAP_A_SIZE_FIELD);
      pos += STAP_A_SIZE_FIELD + s.length;
    }
    out.push(stap);
  }

  #nalUnit(nal: Buffer, out: Buffer[]): void {
    if (nal.length <= this.#maxPayloadBytes) {
      out.push(nal);
      return;
    }
    // FU-A: the NAL header byte is not sent; its F/NRI go in the FU indicator, its type in the FU header.
    const header = nal[0]!;
    const indicator = (header & 0xe0) | NAL_FU_A;
    const type = header & TYPE_MASK;
    const chunk = this.#maxPayloadBytes - FU_OVERHEAD;
    for (let pos = 1; pos < nal.length; pos += chunk) {
      const end = Math.min(pos + chunk, nal.length);
      const fu = Buffer.allocUnsafe(FU_OVERHEAD + end - pos);
      fu[0] = indicator;
      fu[1] = (pos === 1 ? FU_START : 0) | (end === nal.length ? FU_END : 0) | type;
      nal.copy(fu, FU_OVERHEAD, pos, end);
      out.push(fu);
    }
  }
}

const UINT32 = 0x1_0000_0000;

/**
 * Converts fMP4 media time (track timescale) to an RTP timestamp at clockRate (90000 for video,
 * 48000 for Opus), rounded to the nearest tick, plus offset (the stream's random initial
 * timestamp), wrapped to uint32. Use the presentation time (decodeTime + compositionOffset).
 * Exact for any integer times: falls back to BigInt when the product would lose precision.
 */
export function toRtpTimestamp(time: number, timescale: number, clockRate: number, offset = 0): number {
  if (!Number.isSafeInteger(time)) throw new RangeError(`time must be a safe integer, got ${time}`);
  if (!Number.isSafeInteger(timescale) || timescale <= 0) throw new RangeError(`timescale must be a positive integer, got ${timescale}`);
  if (!Number.isSafeInteger(clockRate) || clockRate <= 0) throw new RangeError(`clockRate must be a positive integer, got ${clockRate}`);
  if (!Number.isSafeInteger(offset)) throw new RangeError(`offset must be a safe integer, got ${offset}`);
  let ticks: number;
  const product = time * clockRate;
  if (timescale === clockRate) {
    ticks = time % UINT32;
  } else if (Number.isSafeInteger(product) && Number.isSafeInteger(2 * product + timescale)) {
    // Round half up: floor((2 * time * clockRate + timescale) / (2 * timescale)).
    ticks = Math.floor((2 * product + timescale) / (2 * timescale)) % UINT32;
  } else {
    const big = BigInt(time) * BigInt(clockRate) * 2n + BigInt(timescale);
    const den = 2n * BigInt(timescale);
    let q = big / den;
    if (big < 0n && q * den !== big) q -= 1n; // BigInt division truncates; we want floor
    ticks = Number(((q % 0x1_0000_0000n) + 0x1_0000_0000n) % 0x1_0000_0000n);
  }
  return ((((ticks + (offset % UINT32)) % UINT32) + UINT32) % UINT32);
}
