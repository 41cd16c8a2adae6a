// Origin-to-origin relay of one live stream (GET /cluster/relay/<stream> on the owning origin):
// one long HTTP response of records, each
//   u32 header length | header (JSON) | u32 body length | body
// The puller applies them exactly as if its own edge had sent them. Pure: no I/O here.
import { ScopecastError } from '../../lib/errors.js';

export const RELAY_CONTENT_TYPE = 'application/vnd.scopecast.relay';

export type RelayHeader =
  | { kind: 'stream'; edgeId: string; profile: string }
  | { kind: 'init'; rendition: string; partTarget: number; bandwidth: number }
  /** One LL-HLS part; wallClockMs = its first frame's ingest time already on the owner's clock. */
  | { kind: 'part'; rendition: string; wallClockMs: number | null }
  | { kind: 'rt-init' }
  | { kind: 'rt'; wallClockMs: number | null }
  /** Sent when nothing else was for a while: the puller tells a quiet owner from a dead one. */
  | { kind: 'ping' }
  /** The stream ended at the owner. */
  | { kind: 'end' };

export interface RelayRecord {
  header: RelayHeader;
  body: Buffer;
}

const EMPTY = Buffer.alloc(0);
const MAX_HEADER_BYTES = 1024;
const RENDITION = /^[a-z0-9_]{1,16}$/;
const TOKEN = /^[A-Za-z0-9_.-]{1,64}$/;

export function encodeRecord(header: RelayHeader, body: Buffer = EMPTY): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const out = Buffer.allocUnsafe(8 + json.length + body.length);
  out.writeUInt32BE(json.length, 0);
  json.copy(out, 4);
  out.writeUInt32BE(body.length, 4 + json.length);
  body.copy(out, 8 + json.length);
  return out;
}

/** Splits the byte stream back into records; throws SC_ERR_RELAY_PROTOCOL on anything malformed. */
export class RelayDecoder {
  readonly #maxBodyBytes: number;
  #buffered: Buffer = EMPTY;

  constructor(options: { maxBodyBytes: number }) {
    this.#maxBodyBytes = options.maxBodyBytes;
  }

  push(chunk: Buffer): RelayRecord[] {
    this.#buffered = this.#buffered.length ? Buffer.concat([this.#buffered, chunk]) : chunk;
    const records: RelayRecord[] = [];
    let at = 0;
    for (;;) {
      const buf = this.#buffered;
      if (buf.length - at < 4) break;
      const headerLength = buf.readUInt32BE(at);
      if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw bad(`header of ${headerLength} bytes`);
      if (buf.length - at < 8 + headerLength) break;
      const bodyLength = buf.readUInt32BE(at + 4 + headerLength);
      if (bodyLength > this.#maxBodyBytes) throw bad(`body of ${bodyLength} bytes`);
      const end = at + 8 + headerLength + bodyLength;
      if (buf.length < end) break;
      const header = parseHeader(buf.subarray(at + 4, at + 4 + headerLength));
      // Copied: the records outlive this chunk (parts stay in the window for seconds).
      records.push({ header, body: Buffer.from(buf.subarray(end - bodyLength, end)) });
      at = end;
    }
    this.#buffered = at === 0 ? this.#buffered : this.#buffered.subarray(at);
    if (this.#buffered.length === 0) this.#buffered = EMPTY;
    return records;
  }

  /** Bytes of an unfinished record (0 at a record boundary). */
  get pending(): number {
    return this.#buffered.length;
  }
}

function bad(detail: string): ScopecastError {
  return new ScopecastError('SC_ERR_RELAY_PROTOCOL', detail);
}

function parseHeader(bytes: Buffer): RelayHeader {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw bad('header is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('header is not an object');
  const h = value as Record<string, unknown>;
  const wallClock = (v: unknown): number | null => {
    if (v === null) return null;
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    throw bad('wallClockMs is not a number');
  };
  const rendition = (v: unknown): string => {
    if (typeof v === 'string' && RENDITION.test(v)) return v;
    throw bad('rendition name');
  };
  switch (h.kind) {
    case 'stream':
      if (typeof h.edgeId !== 'string' || !TOKEN.test(h.edgeId) || typeof h.profile !== 'string' || !TOKEN.test(h.profile)) throw bad('stream header');
      return { kind: 'stream', edgeId: h.edgeId, profile: h.profile };
    case 'init': {
      const partTarget = h.partTarget;
      const bandwidth = h.bandwidth;
      if (typeof partTarget !== 'number' || !(partTarget >= 0.05 && partTarget <= 2)) throw bad('part target');
      if (typeof bandwidth !== 'number' || !(bandwidth >= 0)) throw bad('bandwidth');
      return { kind: 'init', rendition: rendition(h.rendition), partTarget, bandwidth };
    }
    case 'part':
      return { kind: 'part', rendition: rendition(h.rendition), wallClockMs: wallClock(h.wallClockMs) };
    case 'rt-init':
      return { kind: 'rt-init' };
    case 'rt':
      return { kind: 'rt', wallClockMs: wallClock(h.wallClockMs) };
    case 'ping':
      return { kind: 'ping' };
    case 'end':
      return { kind: 'end' };
    default:
      throw bad(`unknown record kind ${JSON.stringify(String(h.kind).slice(0, 20))}`);
  }
}
