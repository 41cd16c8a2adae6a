import { ScopecastError } from '../../lib/errors.js';
import { checkedInitialSequence, checkedTimestamp, type RtpOut } from './h264-packetizer.js';

// RFC 7587 Opus RTP payload format: one whole Opus packet per RTP packet, never fragmented or
// aggregated; the RTP clock is always 48 kHz whatever the codec's internal rate. Pure.

/** An Opus packet is at most 48 frames of at most 1275 bytes plus framing (RFC 6716 section 3.2.5). */
const MAX_OPUS_PACKET = 61_440;

export interface OpusPacketizerOptions {
  /** First sequence number, 0..65535 (default random). */
  initialSequence?: number;
}

export class OpusPacketizer {
  #sequence: number;

  constructor(options: OpusPacketizerOptions = {}) {
    this.#sequence = checkedInitialSequence(options.initialSequence);
  }

  /** Sequence number the next packet will carry. */
  get nextSequence(): number {
    return this.#sequence;
  }

  /**
   * One Opus packet (an fMP4 Opus sample) -> one RTP packet with marker=false. The payload is the
   * frame itself (shared memory). An empty frame (no TOC byte) throws SC_ERR_FMP4_PARSE.
   */
  packetize(frame: Buffer, rtpTimestamp: number): RtpOut {
    const timestamp = checkedTimestamp(rtpTimestamp);
    if (frame.length === 0) throw new ScopecastError('SC_ERR_FMP4_PARSE', 'Opus sample is empty (no TOC byte)');
    if (frame.length > MAX_OPUS_PACKET) {
      throw new ScopecastError('SC_ERR_FMP4_PARSE', `Opus sample of ${frame.length} bytes exceeds the ${MAX_OPUS_PACKET}-byte maximum`);
    }
    const sequenceNumber = this.#sequence;
    this.#sequence = (this.#sequence + 1) & 0xffff;
    return { payload: frame, marker: false, timestamp, sequenceNumber };
  }
}
