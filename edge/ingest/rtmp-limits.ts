// Hostile input on the RTMP listener. node-media-server 4.4 trusts its peer: its chunk parser
// allocates whatever message length a header announces, once per chunk stream id (a 12-byte header
// can make it zero-fill 16 MiB, thousands of times over), and its AMF decoder, URL parsing and FLV
// tag reader throw on garbage from inside the socket's 'data' listener, which would end the process.
// It has no connection limit and no handshake or idle deadline.
//
// Two parts: RtmpGate is pure (bytes in, verdict out): it follows the chunk stream exactly the way
// NMS frames it and refuses what would make NMS allocate or misbehave, before NMS sees the bytes.
// RtmpListenerGuard is the adapter: it sits between NMS's listener and its per-socket session,
// feeds each chunk through the gate and then to NMS inside a try/catch, and enforces the limits.
import type { Server, Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { InvalidStateError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';

/** What one connection may make node-media-server hold. */
export interface RtmpFrameLimits {
  /** Largest audio/video message, bytes (a 4K intra frame at a surgical bitrate is ~3 MiB). */
  maxMediaMessageBytes: number;
  /** Largest command, metadata or control message, bytes (connect/publish/onMetaData are < 2 KiB). */
  maxControlMessageBytes: number;
  /** Distinct chunk stream ids on one connection (ffmpeg and OBS use 2..8). */
  maxChunkStreams: number;
  /** NMS keeps one reassembly buffer per chunk stream, as large as its largest message: their sum, bytes. */
  maxBufferedBytes: number;
}

export const DEFAULT_FRAME_LIMITS: Readonly<RtmpFrameLimits> = Object.freeze({
  maxMediaMessageBytes: 8 * 1024 * 1024,
  maxControlMessageBytes: 64 * 1024,
  maxChunkStreams: 16,
  maxBufferedBytes: 20 * 1024 * 1024,
});

/** How far a connection got: the handshake deadline ends when it publishes or plays. */
export type RtmpStage = 'handshake' | 'connecting' | 'publishing' | 'playing';

export interface RtmpGateScan {
  /** The bytes, cut after each command message (NMS may end the socket on one); empty when refused. */
  pieces: Buffer[];
  /** Why the connection must be dropped (nothing of this scan may reach NMS); null when it may. */
  violation: string | null;
}

const HANDSHAKE_BYTES = 1 + 1536 + 1536; // C0 + C1 + C2
const RTMP_VERSION = 3;
const MESSAGE_HEADER_BYTES = [11, 7, 3, 0] as const;
const EXTENDED_TIMESTAMP = 0xffffff;
/** NMS skips (does not handle) a message whose clock went past 32 bits. */
const MAX_CLOCK = 0xffffffff;
/** NMS allocates a message's length plus this. */
const NMS_ALLOC_SLACK = 1024;
/** Bytes kept from the start of each message: enough for a command name or a control value. */
const PREFIX_BYTES = 64;
const MAX_CHUNK_SIZE = 0x7fffffff;

const TYPE_SET_CHUNK_SIZE = 1;
const TYPE_WINDOW_ACK_SIZE = 5;
const TYPE_AUDIO = 8;
const TYPE_VIDEO = 9;
const TYPE_AMF3_DATA = 15;
const TYPE_AMF3_COMMAND = 17;
const TYPE_AMF0_DATA = 18;
const TYPE_AMF0_COMMAND = 20;

interface ChunkStream {
  timestamp: number;
  length: number;
  type: number;
  /** Bytes of the current message received so far (0 = between messages). */
  bytes: number;
  clock: number;
  /** The size of NMS's reassembly buffer for this chunk stream. */
  capacity: number;
  prefix: Buffer;
}

type ParseState = 'basic' | 'basic-rest' | 'header' | 'extended-timestamp' | 'payload';

/**
 * Follows one connection's client-to-server bytes as node-media-server 4.4 frames them
 * (src/protocol/rtmp.js chunkRead: same states, same chunk stream keys, same moment a new chunk
 * size applies), so that both agree on every message boundary, and refuses:
 * a version byte other than 3; a message longer than the limits or one that would take NMS's
 * buffers past maxBufferedBytes; more than maxChunkStreams chunk stream ids; a new message header
 * on a chunk stream whose message is not complete (NMS then walks its read offset backwards);
 * a chunk size outside 1..2^31-1 (0 stalls NMS's parser on NaN); set-chunk-size or window-ack
 * messages shorter than their 4-byte value; audio, video or data before `publish`; a second
 * `publish` or `play` on one connection (NMS would leave the first stream published forever).
 * Synchronous and allocation-bounded; after a violation every scan repeats it.
 */
export class RtmpGate {
  readonly #limits: RtmpFrameLimits;
  #stage: RtmpStage = 'handshake';
  #handshakeLeft = HANDSHAKE_BYTES;
  #state: ParseState = 'basic';
  readonly #header = Buffer.alloc(18);
  #headerBytes = 0;
  #basicBytes = 1;
  #fmt = 0;
  #chunkSize = 128;
  readonly #streams = new Map<number, ChunkStream>();
  #current: ChunkStream | null = null;
  #buffered = 0;
  #violation: string | null = null;

  constructor(limits: Partial<RtmpFrameLimits> = {}) {
    this.#limits = { ...DEFAULT_FRAME_LIMITS, ...limits };
  }

  get stage(): RtmpStage {
    return this.#stage;
  }

  /** True once the client has sent its publish or play command. */
  get established(): boolean {
    return this.#stage === 'publishing' || this.#stage === 'playing';
  }

  /** The bytes NMS's chunk buffers would hold for this connection now. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  scan(chunk: Buffer): RtmpGateScan {
    if (this.#violation) return { pieces: [], violation: this.#violation };
    const cuts: number[] = [];
    let offset = 0;
    while (offset < chunk.length && !this.#violation) {
      if (this.#handshakeLeft > 0) {
        if (this.#handshakeLeft === HANDSHAKE_BYTES && chunk[offset] !== RTMP_VERSION) {
          this.#violation = `not RTMP: version byte ${chunk[offset]} (expected ${RTMP_VERSION})`;
          break;
        }
        const n = Math.min(this.#handshakeLeft, chunk.length - offset);
        this.#handshakeLeft -= n;
        offset += n;
        if (this.#handshakeLeft === 0) this.#stage = 'connecting';
        continue;
      }
      offset = this.#step(chunk, offset, cuts);
    }
    if (this.#violation) return { pieces: [], violation: this.#violation };
    const pieces: Buffer[] = [];
    let start = 0;
    for (const cut of cuts) {
      if (cut > start) pieces.push(chunk.subarray(start, cut));
      start = cut;
    }
    if (start < chunk.length) pieces.push(chunk.subarray(start));
    return { pieces, violation: null };
  }

  /** One state of the chunk parser; returns the new offset. */
  #step(chunk: Buffer, offset: number, cuts: number[]): number {
    if (this.#state === 'payload') {
      const s = this.#current!;
      const n = Math.min(this.#chunkSize - (s.bytes % this.#chunkSize), s.length - s.bytes, chunk.length - offset);
      if (s.bytes < PREFIX_BYTES) chunk.copy(s.prefix, s.bytes, offset, offset + Math.min(n, PREFIX_BYTES - s.bytes));
      s.bytes += n;
      offset += n;
      if (s.bytes >= s.length) this.#endMessage(s, offset, cuts);
      else if (s.bytes % this.#chunkSize === 0) this.#state = 'basic';
      return offset;
    }
    if (this.#state === 'basic') {
      const b0 = chunk[offset]!;
      this.#header[0] = b0;
      this.#headerBytes = 1;
      this.#fmt = b0 >> 6;
      this.#basicBytes = (b0 & 0x3f) === 0 ? 2 : (b0 & 0x3f) === 1 ? 3 : 1;
      this.#state = 'basic-rest';
      offset += 1;
    } else {
      const n = Math.min(this.#headerTarget() - this.#headerBytes, chunk.length - offset);
      chunk.copy(this.#header, this.#headerBytes, offset, offset + n);
      this.#headerBytes += n;
      offset += n;
    }
    // Every transition that needs no further byte happens now (NMS makes them when the next byte
    // arrives): the gate has judged a header before NMS can act on it.
    for (let state = this.#parseState(); !this.#violation && state !== 'basic' && state !== 'payload' && this.#headerBytes >= this.#headerTarget(); state = this.#parseState()) {
      if (state === 'basic-rest') this.#state = 'header';
      else if (state === 'header') this.#onMessageHeader();
      else this.#onChunkStart();
    }
    if (!this.#violation && this.#parseState() === 'payload' && this.#current!.length === 0) this.#endMessage(this.#current!, offset, cuts);
    return offset;
  }

  /** The state as the transitions left it (unnarrowed). */
  #parseState(): ParseState {
    return this.#state;
  }

  /** Header bytes (basic, message header, extended timestamp) the current state needs. */
  #headerTarget(): number {
    if (this.#state === 'basic-rest') return this.#basicBytes;
    const base = this.#basicBytes + MESSAGE_HEADER_BYTES[this.#fmt]!;
    return this.#state === 'extended-timestamp' && this.#current!.timestamp === EXTENDED_TIMESTAMP ? base + 4 : base;
  }

  #endMessage(s: ChunkStream, end: number, cuts: number[]): void {
    this.#state = 'basic';
    s.bytes = 0;
    if (s.clock <= MAX_CLOCK) this.#onMessage(s, end, cuts);
  }

  /** Basic + message header complete (NMS packetParse). */
  #onMessageHeader(): void {
    const h = this.#header;
    // NMS's ids, including its arithmetic for the 3-byte form (not the spec's): what matters is
    // that gate and parser agree on which messages share a chunk stream's header state.
    const id = this.#basicBytes === 2 ? 64 + h[1]! : this.#basicBytes === 3 ? (64 + h[1]! + h[2]!) << 8 : h[0]! & 0x3f;
    let s = this.#streams.get(id);
    if (!s) {
      if (this.#streams.size >= this.#limits.maxChunkStreams) {
        this.#violation = `more than ${this.#limits.maxChunkStreams} chunk streams`;
        return;
      }
      s = { timestamp: 0, length: 0, type: 0, bytes: 0, clock: 0, capacity: 0, prefix: Buffer.alloc(PREFIX_BYTES) };
      this.#streams.set(id, s);
    }
    if (this.#fmt !== 3 && s.bytes > 0) {
      this.#violation = `new message header on chunk stream ${id} before its message ended`;
      return;
    }
    let o = this.#basicBytes;
    if (this.#fmt <= 2) {
      s.timestamp = h.readUIntBE(o, 3);
      o += 3;
    }
    if (this.#fmt <= 1) {
      s.length = h.readUIntBE(o, 3);
      s.type = h[o + 3]!;
    }
    this.#current = s;
    this.#state = 'extended-timestamp';
  }

  /** Chunk header complete, extended timestamp included (where NMS allocates a new message). */
  #onChunkStart(): void {
    const s = this.#current!;
    this.#state = 'payload';
    if (s.bytes !== 0) return;
    const base = this.#basicBytes + MESSAGE_HEADER_BYTES[this.#fmt]!;
    const delta = s.timestamp === EXTENDED_TIMESTAMP ? this.#header.readUInt32BE(base) : s.timestamp;
    s.clock = this.#fmt === 0 ? delta : s.clock + delta;
    const problem = this.#checkMessageStart(s);
    if (problem) {
      this.#violation = problem;
      return;
    }
    if (s.capacity < s.length) {
      this.#buffered += s.length + NMS_ALLOC_SLACK - s.capacity;
      s.capacity = s.length + NMS_ALLOC_SLACK;
      if (this.#buffered > this.#limits.maxBufferedBytes) {
        this.#violation = `chunk buffers would hold ${this.#buffered} bytes (limit ${this.#limits.maxBufferedBytes})`;
      }
    }
  }

  #checkMessageStart(s: ChunkStream): string | null {
    const media = s.type === TYPE_AUDIO || s.type === TYPE_VIDEO;
    const data = s.type === TYPE_AMF0_DATA || s.type === TYPE_AMF3_DATA;
    if ((media || data) && this.#stage !== 'publishing') return `message type ${s.type} before publish`;
    if (media && s.length === 0) return `empty message of type ${s.type}`;
    const max = media ? this.#limits.maxMediaMessageBytes : this.#limits.maxControlMessageBytes;
    if (s.length > max) return `message of ${s.length} bytes, type ${s.type} (limit ${max})`;
    return null;
  }

  /** A message NMS will handle (packetHandler): the ones that change its state or ours. */
  #onMessage(s: ChunkStream, end: number, cuts: number[]): void {
    switch (s.type) {
      case TYPE_SET_CHUNK_SIZE: {
        if (s.length < 4) {
          this.#violation = `set chunk size of ${s.length} bytes`;
          return;
        }
        const size = s.prefix.readUInt32BE(0);
        if (size < 1 || size > MAX_CHUNK_SIZE) {
          this.#violation = `chunk size ${size}`;
          return;
        }
        this.#chunkSize = size;
        return;
      }
      case TYPE_WINDOW_ACK_SIZE:
        if (s.length < 4) this.#violation = `window acknowledgement size of ${s.length} bytes`;
        return;
      case TYPE_AMF0_COMMAND:
      case TYPE_AMF3_COMMAND: {
        cuts.push(end);
        const name = commandName(s.prefix, s.length, s.type === TYPE_AMF3_COMMAND ? 1 : 0);
        if (name !== 'publish' && name !== 'play') return;
        if (this.established) {
          this.#violation = `${name} after ${this.#stage === 'publishing' ? 'publish' : 'play'} on one connection`;
          return;
        }
        this.#stage = name === 'publish' ? 'publishing' : 'playing';
        return;
      }
    }
  }
}

/**
 * The command name as NMS's AMF0 decoder reads it (string, long string or XML marker; the string
 * cut at the message end), when it is short enough to matter; '' otherwise.
 */
function commandName(prefix: Buffer, length: number, skip: number): string {
  const marker = length > skip ? prefix[skip] : undefined;
  let start: number;
  let declared: number;
  if (marker === 0x02 || marker === 0x0f) {
    if (length < skip + 3) return '';
    start = skip + 3;
    declared = prefix.readUInt16BE(skip + 1);
  } else if (marker === 0x0c) {
    if (length < skip + 5) return '';
    start = skip + 5;
    declared = prefix.readUInt32BE(skip + 1);
  } else {
    return '';
  }
  const end = Math.min(start + declared, length);
  if (end - start > 16 || end > PREFIX_BYTES) return '';
  return prefix.toString('utf8', start, end);
}

/** Listener limits, from the edge config's rtmp section. */
export interface RtmpListenerLimits {
  /** Open connections on each RTMP listener; more are closed on accept. */
  maxConnections: number;
  /** A connection that has not sent publish or play this long after it opened is closed, ms. */
  handshakeTimeoutMs: number;
  /** A connection with no bytes either way for this long is closed, ms. */
  idleTimeoutMs: number;
}

export type RtmpDropReason = 'over_limit' | 'handshake_timeout' | 'idle_timeout' | 'protocol' | 'parser_error' | 'slow_reader';

export interface RtmpDropInfo {
  /** Client address:port. */
  ip: string;
  reason: RtmpDropReason;
  /** What exactly; never holds the stream name or its query (tokens). */
  detail: string;
}

export interface RtmpListenerGuardEvents extends Record<string, unknown[]> {
  /** The guard closed a connection (or the listener refused one). */
  dropped: [info: RtmpDropInfo];
  /** Open RTMP connections changed. */
  connections: [count: number];
}

/** The part of NMS 4.4's NodeRtmpServer the guard takes over (see nms.d.ts). */
export interface NmsRtmpListeners {
  tcpServer?: Server | undefined;
  tlsServer?: Server | undefined;
  handleRequest?: ((socket: Socket) => void) | undefined;
}

export interface RtmpListenerGuardOptions {
  limits: RtmpListenerLimits;
  frame?: Partial<RtmpFrameLimits>;
  log: FastifyBaseLogger;
}

/** Output NMS has queued for a peer that does not read (a player, or replies to a flood), bytes. */
const MAX_UNSENT_BYTES = 16 * 1024 * 1024;
/** How often unsent output is checked, ms. */
const UNSENT_CHECK_MS = 1000;
/** After NMS (or accept) ended a connection, the peer has this long to close its side, ms. */
const END_LINGER_MS = 2000;
/** Warn lines per drop reason per window; the rest are counted and summarized. */
const LOG_BURST = 10;
const LOG_WINDOW_MS = 10_000;

interface Connection {
  /** The TCP socket (for RTMPS the one under TLS): counted, and closed by the deadline. */
  readonly raw: Socket;
  /** The socket NMS reads: raw for RTMP, the TLS socket for RTMPS; null until TLS is up. */
  socket: Socket | null;
  readonly ip: string;
  readonly gate: RtmpGate;
  deadline: NodeJS.Timeout | null;
  linger: NodeJS.Timeout | null;
}

/**
 * Puts limits between NMS's RTMP listeners and its sessions: maxConnections (server.maxConnections,
 * refused on accept), a deadline from accept to publish/play (RTMPS: TLS handshake included), an
 * idle timeout, the RtmpGate in front of NMS's parser, a try/catch around it (a throw closes that
 * connection, not the process), no parsing after NMS ended a connection, and a cap on output queued
 * for a peer that does not read. Drops are logged at warn without stream names or queries.
 */
export class RtmpListenerGuard extends TypedEmitter<RtmpListenerGuardEvents> {
  readonly #options: RtmpListenerGuardOptions;
  readonly #log: FastifyBaseLogger;
  readonly #open = new Map<Socket, Connection>();
  /** RTMPS connections whose TLS handshake is not done, by remote address:port. */
  readonly #tlsPending = new Map<string, Connection>();
  readonly #detach: Array<() => void> = [];
  readonly #logWindow = new Map<RtmpDropReason, { lines: number; suppressed: number; since: number }>();
  #sweeper: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(options: RtmpListenerGuardOptions) {
    super();
    this.#options = options;
    this.#log = options.log;
    this.setListenerErrorHandler((err, event) => this.#log.error({ err, event }, 'RTMP guard listener failed'));
  }

  /** Open connections on the guarded listeners. */
  get connections(): number {
    return this.#open.size;
  }

  /**
   * Take over NMS's listeners (between its constructor, which creates them, and run()). Throws if
   * NMS no longer hands sockets to its sessions the way 4.4 does: an unguarded listener must not start.
   */
  attachNms(rtmp: NmsRtmpListeners | undefined): void {
    if (this.#closed) throw new InvalidStateError('RTMP listener guard');
    const handler = rtmp?.handleRequest;
    if (!rtmp?.tcpServer || typeof handler !== 'function') {
      throw new Error('node-media-server has no RTMP listener to guard (NMS version changed?)');
    }
    this.#takeOver(rtmp.tcpServer, 'connection', handler);
    if (rtmp.tlsServer) {
      this.#takeOver(rtmp.tlsServer, 'secureConnection', handler);
      const server = rtmp.tlsServer;
      const onRaw = (raw: Socket): void => {
        const conn = this.#track(raw);
        if (conn) this.#tlsPending.set(endpoint(raw), conn);
      };
      server.on('connection', onRaw);
      this.#detach.push(() => server.off('connection', onRaw));
    }
    this.#sweeper ??= setInterval(() => this.#sweep(), UNSENT_CHECK_MS);
    this.#sweeper.unref();
  }

  /**
   * Stop guarding and close every connection still open (NMS's stop() closes the listeners and the
   * sessions it knows; an RTMPS connection still in its TLS handshake is only known here). Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#sweeper) clearInterval(this.#sweeper);
    for (const undo of this.#detach.splice(0)) undo();
    for (const conn of this.#open.values()) {
      this.#clearTimers(conn);
      conn.socket?.destroy();
      conn.raw.destroy();
    }
    this.#tlsPending.clear();
    this.#flushLogWindows();
    this.removeAllListeners();
  }

  #takeOver(server: Server, event: 'connection' | 'secureConnection', handler: (socket: Socket) => void): void {
    if (!server.listeners(event).includes(handler)) {
      throw new Error(`node-media-server's RTMP ${event} handler not found (NMS version changed?)`);
    }
    server.maxConnections = this.#options.limits.maxConnections;
    server.off(event, handler);
    const admit = (socket: Socket): void => this.#admit(socket, handler, event === 'secureConnection');
    server.on(event, admit);
    const onDrop = (data?: { remoteAddress?: string; remotePort?: number }): void => {
      this.#drop(`${data?.remoteAddress ?? '?'}:${data?.remotePort ?? '?'}`, 'over_limit', `maxConnections (${this.#options.limits.maxConnections}) reached`);
    };
    server.on('drop', onDrop);
    this.#detach.push(() => {
      server.off(event, admit);
      server.off('drop', onDrop);
      server.on(event, handler);
    });
  }

  /** Count a new TCP connection and start its deadline. Null when the guard is closed. */
  #track(raw: Socket): Connection | null {
    if (this.#closed) return null;
    const conn: Connection = { raw, socket: null, ip: endpoint(raw), gate: new RtmpGate(this.#options.frame), deadline: null, linger: null };
    this.#open.set(raw, conn);
    const { handshakeTimeoutMs } = this.#options.limits;
    conn.deadline = setTimeout(() => {
      conn.deadline = null;
      if (!conn.gate.established) this.#kill(conn, 'handshake_timeout', `no publish or play within ${handshakeTimeoutMs} ms (at ${conn.gate.stage})`);
    }, handshakeTimeoutMs);
    raw.once('close', () => {
      this.#clearTimers(conn);
      this.#open.delete(raw);
      if (this.#tlsPending.get(conn.ip) === conn) this.#tlsPending.delete(conn.ip);
      this.emit('connections', this.#open.size);
    });
    this.emit('connections', this.#open.size);
    return conn;
  }

  #admit(socket: Socket, handler: (socket: Socket) => void, secure: boolean): void {
    let conn: Connection | null | undefined;
    if (secure) {
      conn = this.#tlsPending.get(endpoint(socket));
      this.#tlsPending.delete(endpoint(socket));
    } else {
      conn = this.#track(socket);
    }
    if (!conn) {
      socket.destroy();
      return;
    }
    conn.socket = socket;
    // NMS writes each reply and media chunk on its own; with Nagle the client's delayed ACK holds
    // every small one up to 40 ms (the handshake deadline runs meanwhile, and players lag).
    socket.setNoDelay(true);
    const before = new Set(socket.listeners('data'));
    try {
      handler(socket);
    } catch (err) {
      this.#kill(conn, 'parser_error', `session setup threw: ${describe(err)}`);
      return;
    }
    const added = socket.listeners('data').filter((l) => !before.has(l));
    const parser = added[0] as ((chunk: Buffer) => void) | undefined;
    if (added.length !== 1 || !parser) {
      this.#log.error({ listeners: added.length }, 'node-media-server did not attach one data listener to an RTMP socket (NMS version changed?); closing it');
      socket.destroy();
      return;
    }
    socket.off('data', parser);
    socket.on('data', (chunk: Buffer) => this.#onData(conn, chunk, parser));
    socket.setTimeout(this.#options.limits.idleTimeoutMs);
    socket.on('timeout', () => this.#kill(conn, 'idle_timeout', `no bytes for ${this.#options.limits.idleTimeoutMs} ms`));
    // NMS refuses by socket.end(): give the peer a moment to close, then close it ourselves.
    socket.once('finish', () => {
      conn.linger ??= setTimeout(() => socket.destroy(), END_LINGER_MS);
      conn.linger.unref();
    });
  }

  #onData(conn: Connection, chunk: Buffer, parser: (chunk: Buffer) => void): void {
    const socket = conn.socket!;
    // Ended by NMS or accept(): whatever else the peer sends is not parsed (no media from a refused publisher).
    if (socket.destroyed || socket.writableEnded) return;
    const { pieces, violation } = conn.gate.scan(chunk);
    if (violation) {
      this.#kill(conn, 'protocol', violation);
      return;
    }
    for (const piece of pieces) {
      if (socket.destroyed || socket.writableEnded) return;
      try {
        parser(piece);
      } catch (err) {
        this.#kill(conn, 'parser_error', describe(err));
        return;
      }
    }
    if (conn.deadline && conn.gate.established) {
      clearTimeout(conn.deadline);
      conn.deadline = null;
    }
    if (socket.writableLength > MAX_UNSENT_BYTES) this.#kill(conn, 'slow_reader', `${socket.writableLength} bytes unsent`);
  }

  #sweep(): void {
    for (const conn of this.#open.values()) {
      const length = conn.socket?.writableLength ?? 0;
      if (length > MAX_UNSENT_BYTES) this.#kill(conn, 'slow_reader', `${length} bytes unsent`);
    }
  }

  #kill(conn: Connection, reason: RtmpDropReason, detail: string): void {
    if (conn.raw.destroyed && (conn.socket ?? conn.raw).destroyed) return;
    this.#clearTimers(conn);
    conn.socket?.destroy();
    conn.raw.destroy();
    this.#drop(conn.ip, reason, detail);
  }

  #clearTimers(conn: Connection): void {
    if (conn.deadline) clearTimeout(conn.deadline);
    if (conn.linger) clearTimeout(conn.linger);
    conn.deadline = null;
    conn.linger = null;
  }

  #drop(ip: string, reason: RtmpDropReason, detail: string): void {
    const now = Date.now();
    let window = this.#logWindow.get(reason);
    if (!window || now - window.since >= LOG_WINDOW_MS) {
      if (window?.suppressed) this.#log.warn({ reason, suppressed: window.suppressed }, `RTMP: ${window.suppressed} more connections dropped (${reason}) in the last ${LOG_WINDOW_MS / 1000} s`);
      window = { lines: 0, suppressed: 0, since: now };
      this.#logWindow.set(reason, window);
    }
    if (window.lines < LOG_BURST) {
      window.lines += 1;
      this.#log.warn({ ip, reason, detail }, `RTMP connection dropped: ${reason}`);
    } else {
      window.suppressed += 1;
    }
    this.emit('dropped', { ip, reason, detail });
  }

  #flushLogWindows(): void {
    for (const [reason, window] of this.#logWindow) {
      if (window.suppressed) this.#log.warn({ reason, suppressed: window.suppressed }, `RTMP: ${window.suppressed} more connections dropped (${reason})`);
    }
    this.#logWindow.clear();
  }
}

function endpoint(socket: Socket): string {
  return `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
}

/** An NMS exception for the log: its kind and message, any query string (a token) cut out. */
function describe(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.replace(/\?\S*/g, '?…').slice(0, 200);
}
