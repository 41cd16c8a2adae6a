// The origin's WebSocket: /ws for edges (clock sync, encoder stats), /ws/<stream> for viewers
// (clock sync, latency reports; annotations later). Every frame is checked (lib/ws-protocol);
// a bad one gets an error message and the socket is closed with the reason, never a crash.
import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { RawData, WebSocket } from 'ws';
import { DRAWING_ROLES, type AnnotationEvent, type AnnotatorRole } from '../lib/annotations.js';
import { isStreamName } from '../lib/stream-name.js';
import { WS_MAX_MESSAGE_BYTES, parseClientMessage, type ServerMessage, type WsRole } from '../lib/ws-protocol.js';
import type { AnnotationHub } from './annotations/hub.js';
import type { EdgeClocks } from './latency/edge-clocks.js';
import type { LatencyBook } from './latency/latency-book.js';
import type { ViewerRole } from './latency/status-types.js';

export interface WsPluginOptions {
  latency: LatencyBook;
  edgeClocks: EdgeClocks;
  annotations: AnnotationHub;
}

/** Close codes (RFC 6455): policy violation, and our own range for "not allowed here". */
const CLOSE_POLICY = 1008;
/** More than this many messages in one second is a broken or hostile client. */
const MAX_MESSAGES_PER_SECOND = 100;
/** Dead peers (no pong) are dropped after one missed heartbeat. */
const HEARTBEAT_MS = 15_000;
/** A viewer that never says hello gets annotations after this anyway, ms. */
const HELLO_WAIT_MS = 2000;
/** A first connection (no `since`) gets this many recent annotations: pinned ones and the fading. */
const JOIN_REPLAY = 200;
/** Live annotations held while the replay for a (re)joining viewer is read. */
const MAX_PENDING = 5000;

export async function wsPlugin(app: FastifyInstance, options: WsPluginOptions): Promise<void> {
  await app.register(websocket, { options: { maxPayload: WS_MAX_MESSAGE_BYTES } });

  app.get('/ws', { websocket: true }, (socket, request) => {
    new Connection(socket, null, options, request.log).start();
  });

  app.get<{ Params: { stream: string } }>('/ws/:stream', { websocket: true }, (socket, request) => {
    const { stream } = request.params;
    if (!isStreamName(stream)) {
      send(socket, { type: 'error', code: 'SC_ERR_STREAM_NAME', message: 'stream name is not allowed' });
      socket.close(CLOSE_POLICY, 'invalid stream name');
      return;
    }
    new Connection(socket, stream, options, request.log).start();
  });
}

function send(socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState === socket.OPEN) socket.send(JSON.stringify(message));
}

/** One client: an edge on /ws (stream null) or a viewer on /ws/<stream>. */
class Connection {
  readonly id = randomUUID();
  readonly #socket: WebSocket;
  readonly #stream: string | null;
  readonly #options: WsPluginOptions;
  readonly #log: FastifyBaseLogger;
  #role: WsRole | null = null;
  #edgeId: string | null = null;
  #windowStart = 0;
  #windowCount = 0;
  #alive = true;
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  /** Annotations: highest seq sent; live events held until the replay is out (null = flowing). */
  #lastSent = 0;
  #pending: AnnotationEvent[] | null = [];
  #offAnnotations: (() => void) | null = null;
  #helloTimer: ReturnType<typeof setTimeout> | null = null;
  #closed = false;
  #replaying = false;

  constructor(socket: WebSocket, stream: string | null, options: WsPluginOptions, log: FastifyBaseLogger) {
    this.#socket = socket;
    this.#stream = stream;
    this.#options = options;
    this.#log = log;
  }

  start(): void {
    const socket = this.#socket;
    // Until it says otherwise a viewer is a trainee: the role that may do least.
    if (this.#stream) {
      this.#options.latency.viewerJoined(this.#stream, this.id, 'trainee');
      const stream = this.#stream;
      this.#offAnnotations = this.#options.annotations.subscribe(stream, (event) => this.#onAnnotation(event));
      this.#helloTimer = setTimeout(() => void this.#replay(undefined), HELLO_WAIT_MS);
    }
    socket.on('message', (data, isBinary) => this.#onMessage(data, isBinary));
    socket.on('pong', () => (this.#alive = true));
    socket.on('close', () => this.#onClose());
    socket.on('error', () => {}); // 'close' follows; an oversized frame lands here first
    this.#heartbeat = setInterval(() => {
      if (!this.#alive) return socket.terminate();
      this.#alive = false;
      socket.ping();
    }, HEARTBEAT_MS);
    send(socket, { type: 'welcome', id: this.id, stream: this.#stream });
  }

  #onClose(): void {
    this.#closed = true;
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    this.#offAnnotations?.();
    this.#offAnnotations = null;
    this.#pending = null;
    if (this.#stream) this.#options.latency.viewerLeft(this.#stream, this.id);
  }

  /**
   * Replay what a (re)joining viewer has not seen, then let live events flow. Live events that
   * arrive meanwhile are held and merged by seq: nothing lost, nothing twice, in order.
   */
  async #replay(since: number | undefined): Promise<void> {
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
    const stream = this.#stream;
    if (!stream || this.#pending === null || this.#replaying) return;
    this.#replaying = true;
    try {
      const hub = this.#options.annotations;
      await hub.ready(stream);
      let backlog = await hub.since(stream, since ?? 0);
      if (since === undefined) backlog = backlog.slice(-JOIN_REPLAY);
      if (this.#closed) return;
      for (const event of backlog) this.#sendAnnotation(event);
    } catch (err) {
      this.#log.warn({ stream, err: (err as Error).message }, 'annotation replay failed');
    }
    const held = this.#pending ?? [];
    this.#pending = null;
    for (const event of held) this.#sendAnnotation(event);
  }

  #onAnnotation(event: AnnotationEvent): void {
    if (this.#pending) {
      if (this.#pending.length < MAX_PENDING) this.#pending.push(event);
      return;
    }
    this.#sendAnnotation(event);
  }

  #sendAnnotation(event: AnnotationEvent): void {
    if (event.seq <= this.#lastSent) return;
    this.#lastSent = event.seq;
    send(this.#socket, { type: 'annotation', event });
  }

  #refuse(message: string): void {
    send(this.#socket, { type: 'error', code: 'SC_ERR_WS_MESSAGE', message });
    // A close reason is at most 123 bytes.
    this.#socket.close(CLOSE_POLICY, message.slice(0, 120));
  }

  #onMessage(data: RawData, isBinary: boolean): void {
    const now = Date.now();
    if (now - this.#windowStart >= 1000) {
      this.#windowStart = now;
      this.#windowCount = 0;
    }
    if (++this.#windowCount > MAX_MESSAGES_PER_SECOND) return this.#refuse(`more than ${MAX_MESSAGES_PER_SECOND} messages per second`);
    if (isBinary) return this.#refuse('binary frames are not accepted');
    const text = Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.#refuse(parsed.error);
    const m = parsed.message;
    const { latency, edgeClocks } = this.#options;
    switch (m.type) {
      case 'ping':
        // t1 and t2 are the same instant here: nothing happens between receive and answer.
        return send(this.#socket, { type: 'pong', id: m.id, t0: m.t0, t1: now, t2: Date.now() });
      case 'hello':
        if ((m.role === 'edge') !== (this.#stream === null)) return this.#refuse(m.role === 'edge' ? 'edges connect to /ws' : 'viewers connect to /ws/<stream>');
        if (m.role === 'edge' && !m.edgeId) return this.#refuse('an edge must say its edgeId');
        this.#role = m.role;
        this.#edgeId = m.edgeId ?? null;
        if (this.#stream) {
          latency.viewerRole(this.#stream, this.id, m.role as ViewerRole);
          void this.#replay(m.since);
        }
        return;
      case 'annotate': {
        if (!this.#stream) return this.#refuse('annotations belong on /ws/<stream>');
        const role = (this.#role ?? 'trainee') as AnnotatorRole;
        if (!DRAWING_ROLES.includes(role)) {
          return send(this.#socket, { type: 'refused', code: 'SC_ERR_FORBIDDEN', message: `drawing is for ${DRAWING_ROLES.join(' and ')}s, not ${role}s`, id: m.annotation.id });
        }
        const id = m.annotation.id;
        this.#options.annotations.publish(this.#stream, this.id, role, m.annotation).catch((err: Error) => {
          this.#log.warn({ stream: this.#stream, err: err.message }, 'annotation not relayed');
          send(this.#socket, { type: 'refused', code: 'SC_ERR_UNAVAILABLE', message: 'annotation relay unavailable; try again', id });
        });
        return;
      }
      case 'report':
        if (!this.#stream) return this.#refuse('reports belong on /ws/<stream>');
        return latency.report(this.#stream, this.id, m.path, m.latencyMs);
      case 'offset':
        if (this.#role !== 'edge' || !this.#edgeId) return this.#refuse('offset is for edges (send hello first)');
        edgeClocks.set(this.#edgeId, m.offsetMs, m.rttMs);
        if (Math.abs(m.offsetMs) > 1000) this.#log.warn({ edge: this.#edgeId, offsetMs: Math.round(m.offsetMs) }, 'edge clock is off by more than a second (corrected)');
        return;
      case 'edge-stats':
        if (this.#role !== 'edge') return this.#refuse('edge-stats is for edges (send hello first)');
        return latency.encoder(m.stream, m);
    }
  }
}
