// RTMP sessions for the hostile-input tests: a tiny encoder for valid client byte streams
// (handshake, AMF0 commands, FLV-style audio/video messages), a segmenter that splits any valid
// stream into its handshake and chunks, and a seeded mutator that breaks them the ways a fuzzer
// should (bit flips, inserted/deleted bytes, extreme length and chunk-size fields, truncation,
// duplicated and swapped chunks, random AMF markers, huge chunk stream ids, many chunk streams,
// a second publish, random write splits, resets mid-stream). Session (seed, n) is always the same
// bytes, so a failure replays from its name.
import { rng } from './random.js';

export type Amf0Value = number | boolean | string | null | { [key: string]: Amf0Value } | { ecma: { [key: string]: Amf0Value } };

/** One piece of a client byte stream: the handshake, or one chunk (header + payload slice). */
export interface Segment {
  kind: 'handshake' | 'chunk';
  bytes: Buffer;
  /** Chunk: basic header length and format (0..3). */
  basic?: number;
  fmt?: number;
  /** Chunk: offset of the 3-byte message length field (format 0 and 1). */
  lengthAt?: number;
  /** Chunk: offset of the message type byte (format 0 and 1). */
  typeAt?: number;
  /** Chunk: offset of the 3-byte timestamp field (format 0..2). */
  timestampAt?: number;
  /** Chunk: where the payload slice starts. */
  payloadAt?: number;
  /** First chunk of a command or data message: its name ('connect', 'publish', '@setDataFrame'). */
  command?: string;
  /** First chunk of an AMF message: offsets (in bytes) of AMF type markers. */
  markers?: number[];
  /** Last chunk of a command or data message: its name (segmentSession only). */
  ends?: string;
}

export interface Message {
  /** Chunk stream id (2..65599). */
  cid: number;
  type: number;
  streamId: number;
  timestamp: number;
  payload: Buffer;
}

// ---------------------------------------------------------------------------------------------
// Encoder

/** AMF0 values; returns the bytes and the offsets of every type marker written. */
export function amf0(values: Amf0Value[]): { bytes: Buffer; markers: number[] } {
  const parts: Buffer[] = [];
  const markers: number[] = [];
  let size = 0;
  const push = (b: Buffer): void => {
    parts.push(b);
    size += b.length;
  };
  const key = (k: string): void => {
    const s = Buffer.from(k, 'utf8');
    const len = Buffer.alloc(2);
    len.writeUInt16BE(s.length);
    push(len);
    push(s);
  };
  const one = (v: Amf0Value): void => {
    markers.push(size);
    if (typeof v === 'number') {
      const b = Buffer.alloc(9);
      b[0] = 0x00;
      b.writeDoubleBE(v, 1);
      push(b);
    } else if (typeof v === 'boolean') {
      push(Buffer.from([0x01, v ? 1 : 0]));
    } else if (typeof v === 'string') {
      push(Buffer.from([0x02]));
      key(v);
    } else if (v === null) {
      push(Buffer.from([0x05]));
    } else if ('ecma' in v && typeof v.ecma === 'object' && v.ecma !== null && !Array.isArray(v.ecma)) {
      const entries = Object.entries(v.ecma as Record<string, Amf0Value>);
      const head = Buffer.alloc(5);
      head[0] = 0x08;
      head.writeUInt32BE(entries.length, 1);
      push(head);
      for (const [k, val] of entries) {
        key(k);
        one(val);
      }
      push(Buffer.from([0x00, 0x00, 0x09]));
    } else {
      push(Buffer.from([0x03]));
      for (const [k, val] of Object.entries(v)) {
        key(k);
        one(val as Amf0Value);
      }
      push(Buffer.from([0x00, 0x00, 0x09]));
    }
  };
  for (const v of values) one(v);
  return { bytes: Buffer.concat(parts), markers };
}

function basicHeader(fmt: number, cid: number): Buffer {
  if (cid >= 64 + 256) {
    const id = cid - 64;
    return Buffer.from([(fmt << 6) | 1, id & 0xff, (id >> 8) & 0xff]);
  }
  if (cid >= 64) return Buffer.from([(fmt << 6) | 0, cid - 64]);
  return Buffer.from([(fmt << 6) | cid]);
}

/** One message as chunks of chunkSize: a format-0 header, then format-3 continuations. */
export function encodeMessage(message: Message, chunkSize: number, extra: Pick<Segment, 'command' | 'markers'> = {}): Segment[] {
  const segments: Segment[] = [];
  const ts = Math.min(message.timestamp, 0xffffff);
  const extended = message.timestamp >= 0xffffff;
  let offset = 0;
  do {
    const first = offset === 0;
    const basic = basicHeader(first ? 0 : 3, message.cid);
    const header = first ? Buffer.alloc(11) : Buffer.alloc(0);
    if (first) {
      header.writeUIntBE(ts, 0, 3);
      header.writeUIntBE(message.payload.length, 3, 3);
      header[6] = message.type;
      header.writeUInt32LE(message.streamId, 7);
    }
    const ext = extended ? Buffer.alloc(4) : Buffer.alloc(0);
    if (extended) ext.writeUInt32BE(message.timestamp >>> 0);
    const slice = message.payload.subarray(offset, offset + chunkSize);
    const bytes = Buffer.concat([basic, header, ext, slice]);
    const segment: Segment = { kind: 'chunk', bytes, basic: basic.length, fmt: first ? 0 : 3, payloadAt: basic.length + header.length + ext.length };
    if (first) {
      segment.timestampAt = basic.length;
      segment.lengthAt = basic.length + 3;
      segment.typeAt = basic.length + 6;
      if (extra.command !== undefined) segment.command = extra.command;
      if (extra.markers) segment.markers = extra.markers.map((m) => m + segment.payloadAt!).filter((m) => m < bytes.length);
    }
    segments.push(segment);
    offset += chunkSize;
  } while (offset < message.payload.length);
  return segments;
}

/** C0 (version 3), C1 (time, zero, random), C2 (random; NMS does not check the echo). */
export function handshake(random: () => number): Segment {
  const bytes = Buffer.alloc(1 + 1536 + 1536);
  bytes[0] = 3;
  for (let i = 9; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
  return { kind: 'handshake', bytes };
}

function command(cid: number, streamId: number, values: Amf0Value[], chunkSize: number): Segment[] {
  const { bytes, markers } = amf0(values);
  return encodeMessage({ cid, type: 20, streamId, timestamp: 0, payload: bytes }, chunkSize, { command: String(values[0]), markers });
}

function randomBytes(random: () => number, n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(random() * 256);
  return b;
}

export interface SessionOptions {
  app: string;
  /** The publish or play name as sent, query (token) included. */
  name: string;
  tcUrl: string;
  chunkSize?: number;
  /** Video frames after the sequence headers (publish only). */
  frames?: number;
}

/** A valid publish: handshake, set chunk size, connect, releaseStream, FCPublish, createStream, publish, metadata, AVC/AAC. */
export function publishSession(random: () => number, options: SessionOptions): Segment[] {
  const cs = options.chunkSize ?? 4096;
  const out: Segment[] = [handshake(random)];
  if (cs !== 128) {
    const size = Buffer.alloc(4);
    size.writeUInt32BE(cs);
    out.push(...encodeMessage({ cid: 2, type: 1, streamId: 0, timestamp: 0, payload: size }, 128));
  }
  out.push(...command(3, 0, ['connect', 1, { app: options.app, type: 'nonprivate', flashVer: 'FMLE/3.0 (compatible; FMSc/1.0)', tcUrl: options.tcUrl }], cs));
  out.push(...command(3, 0, ['releaseStream', 2, null, options.name], cs));
  out.push(...command(3, 0, ['FCPublish', 3, null, options.name], cs));
  out.push(...command(3, 0, ['createStream', 4, null], cs));
  out.push(...command(8, 1, ['publish', 5, null, options.name, 'live'], cs));
  const meta = amf0(['@setDataFrame', 'onMetaData', { ecma: { width: 320, height: 240, framerate: 30, videocodecid: 7, audiocodecid: 10, audiosamplerate: 48000, stereo: true } }]);
  out.push(...encodeMessage({ cid: 4, type: 18, streamId: 1, timestamp: 0, payload: meta.bytes }, cs, { command: '@setDataFrame', markers: meta.markers }));
  // AVC sequence header: configurationVersion 1, profile/compat/level, 4-byte NALU lengths, one SPS, one PPS.
  const sps = Buffer.concat([Buffer.from([0x67, 0x42, 0xc0, 0x1e]), randomBytes(random, 8)]);
  const pps = Buffer.from([0x68, 0xce, 0x3c, 0x80]);
  const avcc = Buffer.concat([Buffer.from([0x01, 0x42, 0xc0, 0x1e, 0xff, 0xe1, 0, sps.length]), sps, Buffer.from([0x01, 0, pps.length]), pps]);
  out.push(...encodeMessage({ cid: 6, type: 9, streamId: 1, timestamp: 0, payload: Buffer.concat([Buffer.from([0x17, 0x00, 0, 0, 0]), avcc]) }, cs));
  out.push(...encodeMessage({ cid: 4, type: 8, streamId: 1, timestamp: 0, payload: Buffer.from([0xaf, 0x00, 0x11, 0x90]) }, cs));
  const frames = options.frames ?? 4;
  for (let i = 0; i < frames; i++) {
    const nalu = randomBytes(random, 40 + Math.floor(random() * 300));
    nalu[0] = i === 0 ? 0x65 : 0x41;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(nalu.length);
    out.push(...encodeMessage({ cid: 6, type: 9, streamId: 1, timestamp: i * 33, payload: Buffer.concat([Buffer.from([i === 0 ? 0x17 : 0x27, 0x01, 0, 0, 0]), len, nalu]) }, cs));
    out.push(...encodeMessage({ cid: 4, type: 8, streamId: 1, timestamp: i * 21, payload: Buffer.concat([Buffer.from([0xaf, 0x01]), randomBytes(random, 20 + Math.floor(random() * 60))]) }, cs));
  }
  return out;
}

/** A valid play: handshake, connect, createStream, play. */
export function playSession(random: () => number, options: SessionOptions): Segment[] {
  const cs = options.chunkSize ?? 128;
  return [
    handshake(random),
    ...command(3, 0, ['connect', 1, { app: options.app, flashVer: 'LNX 9,0,124,2', tcUrl: options.tcUrl, fpad: false, capabilities: 15, audioCodecs: 4071, videoCodecs: 252, videoFunction: 1 }], cs),
    ...command(3, 0, ['createStream', 2, null], cs),
    ...command(8, 1, ['play', 3, null, options.name, -2000], cs),
  ];
}

/**
 * Splits a valid client byte stream (e.g. one recorded from ffmpeg) into its handshake and chunks,
 * following the chunk size it sets. Throws on anything it cannot frame.
 */
export function segmentSession(bytes: Buffer): Segment[] {
  const HS = 1 + 1536 + 1536;
  if (bytes.length < HS || bytes[0] !== 3) throw new Error('not an RTMP client stream');
  const out: Segment[] = [{ kind: 'handshake', bytes: bytes.subarray(0, HS) }];
  const state = new Map<number, { length: number; type: number; timestamp: number; read: number; command?: string }>();
  let chunkSize = 128;
  let p = HS;
  while (p < bytes.length) {
    const start = p;
    const b0 = bytes[p]!;
    const fmt = b0 >> 6;
    let basic = 1;
    let cid = b0 & 0x3f;
    if (cid === 0) {
      basic = 2;
      cid = 64 + bytes[p + 1]!;
    } else if (cid === 1) {
      basic = 3;
      cid = 64 + bytes[p + 1]! + bytes[p + 2]! * 256;
    }
    p += basic;
    const s: { length: number; type: number; timestamp: number; read: number; command?: string } = state.get(cid) ?? { length: 0, type: 0, timestamp: 0, read: 0 };
    state.set(cid, s);
    const segment: Segment = { kind: 'chunk', bytes: Buffer.alloc(0), basic, fmt };
    if (fmt <= 2) {
      segment.timestampAt = p - start;
      s.timestamp = bytes.readUIntBE(p, 3);
    }
    if (fmt <= 1) {
      segment.lengthAt = p - start + 3;
      segment.typeAt = p - start + 6;
      s.length = bytes.readUIntBE(p + 3, 3);
      s.type = bytes[p + 6]!;
    }
    p += [11, 7, 3, 0][fmt]!;
    if (s.timestamp === 0xffffff) p += 4;
    const first = s.read === 0;
    const n = Math.min(chunkSize, s.length - s.read);
    segment.payloadAt = p - start;
    if (p + n > bytes.length) throw new Error(`chunk at ${start} runs past the end`);
    const payload = bytes.subarray(p, p + n);
    if (first && (s.type === 20 || s.type === 18) && payload[0] === 0x02) {
      segment.command = payload.toString('utf8', 3, 3 + payload.readUInt16BE(1));
      segment.markers = [segment.payloadAt];
    }
    if (first) s.command = segment.command;
    if (first && s.type === 1) chunkSize = payload.readUInt32BE(0);
    s.read += n;
    if (s.read >= s.length) {
      s.read = 0;
      if (s.command !== undefined) segment.ends = s.command;
    }
    p += n;
    segment.bytes = bytes.subarray(start, p);
    out.push(segment);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Mutator

export type CloseMode = 'end' | 'reset' | 'linger';

export interface FuzzSession {
  seed: number;
  index: number;
  /** The client's bytes, in the writes to make. */
  writes: Buffer[];
  /** end: FIN after the last write; reset: destroy right after it; linger: keep it open, say nothing. */
  close: CloseMode;
  mutations: string[];
}

export const MUTATIONS = [
  'bitflip', 'insert', 'delete', 'length', 'chunksize', 'truncate', 'duplicate', 'swap', 'amf', 'csid',
  'timestamp', 'type', 'fmt', 'chunkstreams', 'republish', 'garbage', 'repeat-command',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

const pick = <T>(random: () => number, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const int = (random: () => number, lo: number, hi: number): number => lo + Math.floor(random() * (hi - lo + 1));

function chunkIndexes(segments: Segment[], test: (s: Segment) => boolean = () => true): number[] {
  const out: number[] = [];
  segments.forEach((s, i) => {
    if (s.kind === 'chunk' && test(s)) out.push(i);
  });
  return out;
}

function withBytes(segment: Segment, bytes: Buffer): Segment {
  return { ...segment, bytes };
}

/** Apply one structural mutation in place; false when the session has nothing it applies to. */
function mutateSegments(random: () => number, segments: Segment[], mutation: Mutation): boolean {
  switch (mutation) {
    case 'length': {
      const at = chunkIndexes(segments, (s) => s.lengthAt !== undefined);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const b = Buffer.from(s.bytes);
      b.writeUIntBE(pick(random, [0, 1, 2, 0xffffff, 0xfffffe, 0x800000, int(random, 0, 0xffffff)]), s.lengthAt!, 3);
      segments[i] = withBytes(s, b);
      return true;
    }
    case 'chunksize': {
      const value = pick(random, [0, 1, 2, 3, 127, 0x7fffffff, 0x80000000, 0xffffffff, int(random, 0, 0xffffffff)]);
      const payload = Buffer.alloc(4);
      payload.writeUInt32BE(value >>> 0);
      const at = int(random, 1, segments.length);
      segments.splice(at, 0, ...encodeMessage({ cid: 2, type: 1, streamId: 0, timestamp: 0, payload }, 128));
      return true;
    }
    case 'duplicate': {
      const at = chunkIndexes(segments);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const copies = random() < 0.8 ? 1 : int(random, 2, 50);
      segments.splice(random() < 0.5 ? i + 1 : int(random, 1, segments.length), 0, ...Array.from({ length: copies }, () => segments[i]!));
      return true;
    }
    case 'swap': {
      const at = chunkIndexes(segments).filter((i) => segments[i + 1]?.kind === 'chunk');
      if (at.length === 0) return false;
      const i = pick(random, at);
      [segments[i], segments[i + 1]] = [segments[i + 1]!, segments[i]!];
      return true;
    }
    case 'amf': {
      const at = chunkIndexes(segments, (s) => s.command !== undefined);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const b = Buffer.from(s.bytes);
      const positions = s.markers?.length && random() < 0.7 ? s.markers : [int(random, s.payloadAt ?? 0, b.length - 1)];
      const pos = pick(random, positions);
      if (pos < b.length) b[pos] = random() < 0.8 ? int(random, 0, 0x12) : int(random, 0, 255);
      segments[i] = withBytes(s, b);
      return true;
    }
    case 'csid': {
      const at = chunkIndexes(segments);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const cid = pick(random, [0, 1, int(random, 2, 63), int(random, 64, 319), int(random, 320, 65599), 65599]);
      const fmt = s.fmt ?? 0;
      let basic: Buffer;
      if (cid <= 1) basic = Buffer.from([(fmt << 6) | cid]);
      else basic = basicHeader(fmt, cid);
      segments[i] = { ...s, bytes: Buffer.concat([basic, s.bytes.subarray(s.basic ?? 1)]), basic: basic.length, lengthAt: undefined, typeAt: undefined, timestampAt: undefined, markers: undefined };
      return true;
    }
    case 'timestamp': {
      const at = chunkIndexes(segments, (s) => s.timestampAt !== undefined);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const b = Buffer.from(s.bytes);
      b.writeUIntBE(pick(random, [0xffffff, 0xfffffe, 0, int(random, 0, 0xffffff)]), s.timestampAt!, 3);
      segments[i] = withBytes(s, b);
      return true;
    }
    case 'type': {
      const at = chunkIndexes(segments, (s) => s.typeAt !== undefined);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const b = Buffer.from(s.bytes);
      b[s.typeAt!] = random() < 0.7 ? pick(random, [1, 2, 3, 4, 5, 6, 8, 9, 15, 16, 17, 18, 19, 20, 22]) : int(random, 0, 255);
      segments[i] = withBytes(s, b);
      return true;
    }
    case 'fmt': {
      const at = chunkIndexes(segments);
      if (at.length === 0) return false;
      const i = pick(random, at);
      const s = segments[i]!;
      const b = Buffer.from(s.bytes);
      b[0] = (b[0]! & 0x3f) | (int(random, 0, 3) << 6);
      segments[i] = withBytes(s, b);
      return true;
    }
    case 'chunkstreams': {
      // Many chunk streams, each announcing a big message: what makes an unguarded NMS allocate.
      const count = int(random, 2, 300);
      const headers: Buffer[] = [];
      const length = pick(random, [0xffffff, 0x100000, int(random, 0, 0xffffff)]);
      const type = pick(random, [9, 20, 8, 18, 1, int(random, 0, 255)]);
      for (let k = 0; k < count; k++) {
        const cid = random() < 0.5 ? int(random, 64, 319) : int(random, 320, 65599);
        const header = Buffer.alloc(11);
        header.writeUIntBE(int(random, 0, 0xffffff), 0, 3);
        header.writeUIntBE(length, 3, 3);
        header[6] = type;
        header.writeUInt32LE(1, 7);
        headers.push(basicHeader(0, cid), header, random() < 0.3 ? randomBytes(random, int(random, 1, 64)) : Buffer.alloc(0));
      }
      segments.splice(int(random, 1, segments.length), 0, { kind: 'chunk', bytes: Buffer.concat(headers) });
      return true;
    }
    case 'republish': {
      const at = chunkIndexes(segments, (s) => s.command === 'publish' || s.command === 'play');
      if (at.length === 0) return false;
      const i = pick(random, at);
      segments.splice(int(random, i + 1, segments.length), 0, segments[i]!);
      return true;
    }
    case 'garbage': {
      segments.splice(int(random, 1, segments.length), 0, { kind: 'chunk', bytes: randomBytes(random, int(random, 1, 2048)) });
      return true;
    }
    case 'repeat-command': {
      const at = chunkIndexes(segments, (s) => s.command !== undefined && s.command !== 'publish' && s.command !== 'play');
      if (at.length === 0) return false;
      const i = pick(random, at);
      segments.splice(i + 1, 0, ...Array.from({ length: int(random, 2, 200) }, () => segments[i]!));
      return true;
    }
    default:
      return false;
  }
}

/** Byte-level mutation of the flattened stream. */
function mutateFlat(random: () => number, bytes: Buffer, mutation: Mutation): Buffer {
  if (bytes.length === 0) return bytes;
  switch (mutation) {
    case 'bitflip': {
      const b = Buffer.from(bytes);
      const flips = int(random, 1, 8);
      for (let k = 0; k < flips; k++) {
        const i = int(random, 0, b.length - 1);
        b[i] = b[i]! ^ (1 << int(random, 0, 7));
      }
      return b;
    }
    case 'insert': {
      const at = int(random, 0, bytes.length);
      return Buffer.concat([bytes.subarray(0, at), randomBytes(random, int(random, 1, 32)), bytes.subarray(at)]);
    }
    case 'delete': {
      const at = int(random, 0, bytes.length - 1);
      return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + int(random, 1, 32))]);
    }
    case 'truncate':
      return bytes.subarray(0, int(random, 0, bytes.length - 1));
    default:
      return bytes;
  }
}

const FLAT: ReadonlySet<Mutation> = new Set(['bitflip', 'insert', 'delete', 'truncate']);

/** Random write boundaries (1..8 writes); the bytes are the same, only their grouping differs. */
function splitWrites(random: () => number, bytes: Buffer): Buffer[] {
  const pieces = random() < 0.3 ? 1 : int(random, 2, 8);
  const cuts = new Set<number>();
  for (let k = 1; k < pieces && bytes.length > 1; k++) cuts.add(int(random, 1, bytes.length - 1));
  const sorted = [...cuts].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const cut of sorted) {
    out.push(bytes.subarray(start, cut));
    start = cut;
  }
  out.push(bytes.subarray(start));
  return out.filter((b) => b.length > 0);
}

export interface FuzzTemplates {
  /** Valid sessions to start from, picked at random per session. */
  sessions: Array<(random: () => number) => Segment[]>;
}

/** Session n of a seeded run: 1..4 mutations of a random template, random writes and close. */
export function fuzzSession(seed: number, index: number, templates: FuzzTemplates): FuzzSession {
  const random = rng((Math.imul(seed, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b)) >>> 0);
  const segments = pick(random, templates.sessions)(random);
  const mutations: string[] = [];
  const count = random() < 0.03 ? 0 : int(random, 1, 4);
  const flat: Mutation[] = [];
  for (let k = 0; k < count; k++) {
    const m = pick(random, MUTATIONS);
    if (FLAT.has(m)) flat.push(m);
    else if (mutateSegments(random, segments, m)) mutations.push(m);
  }
  let bytes: Buffer = Buffer.concat(segments.map((s) => s.bytes));
  for (const m of flat) {
    bytes = mutateFlat(random, bytes, m);
    mutations.push(m);
  }
  const r = random();
  const close: CloseMode = r < 0.01 ? 'linger' : r < 0.13 ? 'reset' : 'end';
  if (close === 'reset' && random() < 0.5) {
    // Reset mid-stream, often mid-handshake.
    bytes = bytes.subarray(0, int(random, 0, Math.min(bytes.length, random() < 0.5 ? 3073 : bytes.length)));
    mutations.push('reset-early');
  }
  return { seed, index, writes: splitWrites(random, bytes), close, mutations };
}
