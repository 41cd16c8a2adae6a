// The origin's WebSocket: /ws for edges (clock sync, encoder stats), /ws/<stream> for viewers
// (clock sync, latency reports; annotations later). Every frame is checked (lib/ws-protocol);
// a bad one gets an error message and the socket is closed with the reason, never a crash.
import { randomUUID } from 'node:crypto';
import websocket from '@fastify/websocket';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Duplex } from 'node:stream';
import type { RawData, WebSocket } from 'ws';
import { DRAWING_ROLES, type AnnotationEvent, type AnnotatorRole } from '../lib/annotations.js';
import { isStreamName } from '../lib/stream-name.js';
import { WS_MAX_MESSAGE_BYTES, parseClientMessage, type ServerMessage, type WsRole } from '../lib/ws-protocol.js';
import type { AnnotationHub } from './annotations/hub.js';
import type { EdgeClocks } from './latency/edge-clocks.js';
import type { LatencyBook } from './latency/latency-book.js';
import type { ViewerRole } from './latency/status-types.js';
import { VIEWER_ROLES, streamParam, type AccessControl, type Principal } from '../lib/security/access.js';
import { ingestKeyChecker } from '../lib/security/ingest-key.js';
import { ScopecastError } from '../lib/errors.js';

export interface WsPluginOptions {
  latency: LatencyBook;
  edgeClocks: EdgeClocks;
  annotations: AnnotationHub;
  access: AccessControl;
  /** Edge credentials (origin ingest.keys): /ws is for edges only. */
  ingestKeys: readonly string[];
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
  // An upgrade answered with an HTTP error (unknown path, 414, 401) leaves its socket outside the
  // server's connection tracking; a client that never closes it would hold close() forever.
  const upgradeSockets = new Set<Duplex>();
  app.server.on('upgrade', (_request: unknown, socket: Duplex) => {
    upgradeSockets.add(socket);
    socket.once('close', () => upgradeSockets.delete(socket));
  });
  app.addHook('preClose', async () => {
    for (const socket of upgradeSockets) socket.destroy();
    upgradeSockets.clear();
  });

  const { access } = options;
  const edgeKeyAccepted = ingestKeyChecker(options.ingestKeys);
  // Credentials are checked before the upgrade: a refused client gets HTTP 401/403, no socket.
  const edgeOnly = async (request: { headers: Record<string, string | string[] | undefined>; ip: string }): Promise<void> => {
    if (edgeKeyAccepted(request.headers)) return;
    access.auditDenied({ ip: request.ip, object: '/ws', reason: 'ingest key', action: 'login' });
    throw new ScopecastError('SC_ERR_INGEST_AUTH');
  };

  app.get('/ws', { websocket: true, preHandler: edgeOnly }, (socket, request) => {
    new Connection(socket, null, null, options, request.log, request.ip).start();
  });

  app.get<{ Params: { stream: string } }>(
    '/ws/:stream',
    { websocket: true, preHandler: access.guard(VIEWER_ROLES, streamParam) },
    (socket, request) => {
      const { stream } = request.params;
      if (!isStreamName(stream)) {
        send(socket, { type: 'error', code: 'SC_ERR_STREAM_NAME', message: 'stream name is not allowed' });
        socket.close(CLOSE_POLICY, 'invalid stream name');
        return;
      }
      const who = request.principal!;
      access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'login', object: `live/${stream}/ws`, outcome: 'allowed' });
      const connection = new Connection(socket, stream, who, options, request.log, request.ip);
      // A revoked token ends its socket (on every origin sharing the revocation list).
      const unwatch = access.watch(who.jti, () => connection.end('token revoked'));
      socket.once('close', unwatch);
      connection.start();
    },
  );
}

/** The role a viewer's token gives it here: its own, except admins watch without drawing rights. */
function viewerRoleOf(principal: Principal): AnnotatorRole | 'trainee' {
  return principal.role === 'expert' || principal.role === 'surgeon' ? principal.role : 'trainee';
}

/** Bytes a client may leave unread; beyond it the socket is closed (it reconnects with `since`: nothing lost). */
const MAX_QUEUED_BYTES = 1024 * 1024;
const CLOSE_TRY_AGAIN = 1013;

function send(socket: WebSocket, message: ServerMessage): void {
  if (socket.readyState !== socket.OPEN) return;
  if (socket.bufferedAmount > MAX_QUEUED_BYTES) {
    socket.close(CLOSE_TRY_AGAIN, 'client is not reading; reconnect');
    return;
  }
  socket.send(JSON.stringify(message));
}

/** One client: an edge on /ws (stream null) or a viewer on /ws/<stream>. */
class Connection {
  readonly id = randomUUID();
  readonly #socket: WebSocket;
  readonly #stream: string | null;
  /** The viewer's verified token (null for an edge, which authenticated with its key). */
  readonly #principal: Principal | null;
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

  readonly #ip: string;

  constructor(socket: WebSocket, stream: string | null, principal: Principal | null, options: WsPluginOptions, log: FastifyBaseLogger, ip: string) {
    this.#ip = ip;
    this.#socket = socket;
    this.#stream = stream;
    this.#principal = principal;
    this.#options = options;
    this.#log = log;
  }

  start(): void {
    const socket = this.#socket;
    // A viewer's role comes from its token, never from what it says.
    if (this.#stream && this.#principal) {
      this.#role = viewerRoleOf(this.#principal);
      this.#options.latency.viewerJoined(this.#stream, this.id, this.#role as ViewerRole);
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

  /** Edges verify publisher tokens themselves: they get every revocation in force, then each new one. */
  #forwardRevocations(): void {
    const revocations = this.#options.access.revocations;
    send(this.#socket, { type: 'revocations', entries: revocations.list() });
    const forward = (jti: string, exp: number): void => send(this.#socket, { type: 'revocations', entries: [[jti, exp]] });
    revocations.on('revoked', forward);
    this.#socket.once('close', () => revocations.off('revoked', forward));
  }

  /** Close from the server's side (revocation). */
  end(reason: string): void {
    send(this.#socket, { type: 'error', code: 'SC_ERR_UNAUTHORIZED', message: reason });
    this.#socket.close(CLOSE_POLICY, reason);
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
        if (this.#stream) {
          // The said role only narrows: a measuring probe may say so; nobody gains a role by saying it.
          if (m.role === 'probe' || m.role === 'trainee') {
            this.#role = m.role;
            latency.viewerRole(this.#stream, this.id, m.role as ViewerRole);
          }
          void this.#replay(m.since);
        } else if (this.#role !== 'edge') {
          this.#role = m.role;
          this.#edgeId = m.edgeId ?? null;
          this.#forwardRevocations();
        }
        return;
      case 'annotate': {
        if (!this.#stream) return this.#refuse('annotations belong on /ws/<stream>');
        const role = (this.#role ?? 'trainee') as AnnotatorRole;
        if (!DRAWING_ROLES.includes(role)) {
          return send(this.#socket, { type: 'refused', code: 'SC_ERR_FORBIDDEN', message: `drawing is for ${DRAWING_ROLES.join(' and ')}s, not ${role}s`, id: m.annotation.id });
        }
        const id = m.annotation.id;
        const who = this.#principal!;
        // Pointer moves are transient (many a second); every drawing that stays is audited.
        if (m.annotation.kind !== 'pointer') {
          this.#options.access.audit({ user: who.sub, role: who.role, ip: this.#ip, action: 'annotate', object: `live/${this.#stream}/${m.annotation.kind}`, outcome: 'allowed' });
        }
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
