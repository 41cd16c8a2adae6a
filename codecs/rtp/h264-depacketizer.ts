import { ScopecastError } from '../../lib/errors.js';
import { NAL_FU_A, NAL_STAP_A } from './h264-packetizer.js';

// RFC 6184 packetization-mode=1 receive side: single NAL unit packets, STAP-A and FU-A, one
// access unit at a time. Pure; used by tests and, later, WHIP ingest.

const START_CODE = Buffer.from([0, 0, 0, 1]);

function broken(detail: string, packet: number): ScopecastError {
  return new ScopecastError('SC_ERR_INGEST_MEDIA', `H.264 RTP packet ${packet}: ${detail}`, { packet });
}

/**
 * Splits the RTP payloads of one access unit (in sequence order) into NAL units. Throws
 * SC_ERR_INGEST_MEDIA on an empty payload, a truncated STAP-A, a broken FU-A sequence (middle or
 * end without start, start before the previous end, type or NRI changing mid-unit, S and E both
 * set, unfinished at the end) and on packet types mode 1 does not allow (STAP-B, MTAP, FU-B).
 */
export function depacketizeH264Nals(payloads: readonly Buffer[]): Buffer[] {
  const nals: Buffer[] = [];
  let fu: { header: number; parts: Buffer[]; first: number } | null = null;
  for (const [i, payload] of payloads.entries()) {
    if (payload.length === 0) throw broken('empty payload', i);
    const type = payload[0]! & 0x1f;
    if (type !== NAL_FU_A && fu) throw broken(`type ${type} arrived before the FU-A started at packet ${fu.first} ended`, i);
    if (type >= 1 && type <= 23) {
      nals.push(payload);
    } else if (type === NAL_STAP_A) {
      let pos = 1;
      if (payload.length === pos) throw broken('STAP-A carries no NAL unit', i);
      while (pos < payload.length) {
        if (pos + 2 > payload.length) throw broken(`STAP-A ends inside a size field at byte ${pos}`, i);
        const size = payload.readUInt16BE(pos);
        pos += 2;
        if (size === 0) throw broken(`STAP-A has a zero-size NAL unit at byte ${pos - 2}`, i);
        if (pos + size > payload.length) throw broken(`STAP-A NAL unit at byte ${pos - 2} claims ${size} bytes but ${payload.length - pos} remain`, i);
        nals.push(payload.subarray(pos, pos + size));
        pos += size;
      }
    } else if (type === NAL_FU_A) {
      if (payload.length < 3) throw broken('FU-A carries no NAL unit bytes', i);
      const fuHeader = payload[1]!;
      const start = (fuHeader & 0x80) !== 0;
      const end = (fuHeader & 0x40) !== 0;
      // Reconstructed NAL header: F and NRI from the FU indicator, type from the FU header.
      const header = (payload[0]! & 0xe0) | (fuHeader & 0x1f);
      if (start && end) throw broken('FU-A has both start and end bits set', i);
      if (start) {
        if (fu) throw broken(`FU-A start before the FU-A started at packet ${fu.first} ended`, i);
        fu = { header, parts: [Buffer.from([header])], first: i };
      } else if (!fu) {
        throw broken('FU-A continuation without a start fragment', i);
      } else if (fu.header !== header) {
        throw broken(`FU-A NAL header changed from 0x${fu.header.toString(16)} to 0x${header.toString(16)}`, i);
      }
      fu.parts.push(payload.subarray(2));
      if (end) {
        nals.push(Buffer.concat(fu.parts));
        fu = null;
      }
    } else {
      throw broken(`packet type ${type} is not allowed in packetization-mode=1`, i);
    }
  }
  if (fu) throw broken(`FU-A started at packet ${fu.first} has no end fragment`, payloads.length - 1);
  return nals;
}

/** Reassembles RTP payloads of one access unit into Annex-B (00 00 00 01 before every NAL unit). */
export function depacketizeH264(payloads: readonly Buffer[]): Buffer {
  return toAnnexB(depacketizeH264Nals(payloads));
}

/** Joins NAL units into an Annex-B byte stream with four-byte start codes. */
export function toAnnexB(nals: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const nal of nals) parts.push(START_CODE, nal);
  return Buffer.concat(parts);
}
