import { ScopecastError } from '../../lib/errors.js';

// Bounds-checked reading of ISO BMFF boxes. Every read goes through ByteReader or readBoxHeader,
// so a truncated or lying box becomes SC_ERR_FMP4_PARSE, never a RangeError.

export function parseError(detail: string): ScopecastError {
  return new ScopecastError('SC_ERR_FMP4_PARSE', detail);
}

/** One box located inside a buffer. Offsets are absolute positions in that buffer. */
export interface Box {
  readonly type: string;
  /** Offset of the box's size field. */
  readonly start: number;
  /** Offset of the first payload byte (after size, type and any largesize). */
  readonly payload: number;
  /** Offset one past the box's last byte. */
  readonly end: number;
}

export interface ListBoxesOptions {
  /** Allow size 0 ("extends to the end") for the last box; true only at the top level of a buffer. */
  readonly allowToEnd?: boolean;
}

/** Box type as text; bytes outside printable ASCII are shown as \xNN so details stay readable. */
export function fourcc(buf: Buffer, offset: number): string {
  let s = '';
  for (let i = offset; i < offset + 4; i++) {
    const c = buf[i] ?? 0;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return s;
}

/** The boxes laid end to end in buf[start, end); each must fit exactly inside that range. */
export function listBoxes(buf: Buffer, start: number, end: number, where: string, options: ListBoxesOptions = {}): Box[] {
  if (start < 0 || end > buf.length || start > end) throw parseError(`${where}: range ${start}..${end} outside buffer of ${buf.length} bytes`);
  const boxes: Box[] = [];
  let offset = start;
  while (offset < end) {
    if (end - offset < 8) throw parseError(`${where}: ${end - offset} trailing bytes at offset ${offset} are too few for a box header`);
    const size32 = buf.readUInt32BE(offset);
    const type = fourcc(buf, offset + 4);
    let size: number;
    let header = 8;
    if (size32 === 1) {
      if (end - offset < 16) throw parseError(`${where}: box '${type}' at offset ${offset} has a truncated largesize`);
      size = safeU64(buf.readUInt32BE(offset + 8), buf.readUInt32BE(offset + 12), `${where}: box '${type}' largesize`);
      header = 16;
    } else if (size32 === 0) {
      if (!options.allowToEnd) throw parseError(`${where}: box '${type}' at offset ${offset} has size 0, not allowed here`);
      size = end - offset;
    } else {
      size = size32;
    }
    if (size < header) throw parseError(`${where}: box '${type}' at offset ${offset} has size ${size}, smaller than its ${header}-byte header`);
    if (offset + size > end) {
      throw parseError(`${where}: box '${type}' at offset ${offset} claims ${size} bytes but only ${end - offset} remain`);
    }
    boxes.push({ type, start: offset, payload: offset + header, end: offset + size });
    offset += size;
  }
  return boxes;
}

/** The children of a container box. */
export function childBoxes(buf: Buffer, parent: Box): Box[] {
  return listBoxes(buf, parent.payload, parent.end, `'${parent.type}'`);
}

export function findBox(boxes: readonly Box[], type: string): Box | undefined {
  return boxes.find((b) => b.type === type);
}

export function requireBox(boxes: readonly Box[], type: string, where: string): Box {
  const box = findBox(boxes, type);
  if (!box) throw parseError(`${where}: missing '${type}' box`);
  return box;
}

/** Combines the two halves of a 64-bit field; refuses values a JS number cannot hold exactly. */
export function safeU64(hi: number, lo: number, what: string): number {
  const value = hi * 0x1_0000_0000 + lo;
  if (!Number.isSafeInteger(value)) throw parseError(`${what}: 64-bit value exceeds 2^53`);
  return value;
}

/** Sequential big-endian reader confined to [start, end) of a buffer. */
export class ByteReader {
  readonly #buf: Buffer;
  readonly #end: number;
  readonly #where: string;
  #pos: number;

  constructor(buf: Buffer, start: number, end: number, where: string) {
    if (start < 0 || end > buf.length || start > end) throw parseError(`${where}: range ${start}..${end} outside buffer of ${buf.length} bytes`);
    this.#buf = buf;
    this.#pos = start;
    this.#end = end;
    this.#where = where;
  }

  static forBox(buf: Buffer, box: Box): ByteReader {
    return new ByteReader(buf, box.payload, box.end, `'${box.type}' at offset ${box.start}`);
  }

  get position(): number {
    return this.#pos;
  }

  get remaining(): number {
    return this.#end - this.#pos;
  }

  #need(n: number, what: string): number {
    if (n > this.#end - this.#pos) {
      throw parseError(`${this.#where}: truncated reading ${what} (${n} bytes needed at offset ${this.#pos}, ${this.#end - this.#pos} left)`);
    }
    const at = this.#pos;
    this.#pos += n;
    return at;
  }

  u8(what = 'u8'): number {
    return this.#buf.readUInt8(this.#need(1, what));
  }

  u16(what = 'u16'): number {
    return this.#buf.readUInt16BE(this.#need(2, what));
  }

  u24(what = 'u24'): number {
    return this.#buf.readUIntBE(this.#need(3, what), 3);
  }

  u32(what = 'u32'): number {
    return this.#buf.readUInt32BE(this.#need(4, what));
  }

  i32(what = 'i32'): number {
    return this.#buf.readInt32BE(this.#need(4, what));
  }

  u64(what = 'u64'): number {
    const at = this.#need(8, what);
    return safeU64(this.#buf.readUInt32BE(at), this.#buf.readUInt32BE(at + 4), `${this.#where}: ${what}`);
  }

  fourcc(what = 'fourcc'): string {
    return fourcc(this.#buf, this.#need(4, what));
  }

  /** A copy, so small results (parameter sets) do not pin the whole segment in memory. */
  bytes(n: number, what = 'bytes'): Buffer {
    const at = this.#need(n, what);
    return Buffer.from(this.#buf.subarray(at, at + n));
  }

  skip(n: number, what = 'reserved bytes'): void {
    this.#need(n, what);
  }

  /** version (8 bits) and flags (24 bits) of a FullBox. */
  fullBox(): { version: number; flags: number } {
    const version = this.u8('version');
    const flags = this.u24('flags');
    return { version, flags };
  }
}
