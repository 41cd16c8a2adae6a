import type { FastifyBaseLogger } from 'fastify';
import type { EdgeConfig } from '../../configs/index.js';
import { InvalidStateError, ScopecastError } from '../../lib/errors.js';
import { assertStreamName } from '../../lib/stream-name.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import type { MediaInput } from './media-input.js';
import { checkWhipOffer, WhipSession, type WhipCloseReason } from './whip-session.js';

export interface WhipPublishInfo {
  stream: string;
  sessionId: string;
  ip: string;
  input: MediaInput;
}

export interface WhipIngestEvents extends Record<string, unknown[]> {
  /** A publisher negotiated; its encoder may start now (media follows once ICE/DTLS are up). */
  publish: [info: WhipPublishInfo];
  /** The publish ended (DELETE, failure, silence, shutdown). */
  unpublish: [info: { stream: string; sessionId: string; input: MediaInput; reason: WhipCloseReason }];
  /** A publish attempt was refused. */
  rejected: [info: { stream: string; ip: string; reason: string }];
}

export interface WhipIngestOptions {
  webrtc: EdgeConfig['webrtc'];
  log: FastifyBaseLogger;
  /** Decide whether a publish may start; return a reason to refuse it (409), or the coded error to refuse it with. */
  accept: (stream: string) => string | ScopecastError | null;
}

const SESSION_ID = /^[0-9a-f-]{36}$/;

/**
 * WHIP ingest (draft-ietf-wish-whip): holds the publishers' WebRTC sessions, one per stream.
 * HTTP lives in whip-plugin.ts; this class owns the sessions and their lifecycle.
 */
export class WhipIngest extends TypedEmitter<WhipIngestEvents> {
  readonly #options: WhipIngestOptions;
  readonly #sessions = new Map<string, WhipSession>();
  /** Streams whose negotiation is under way: claimed, so a second publisher gets 409 at once. */
  readonly #pending = new Set<string>();
  #closed: Promise<void> | null = null;

  constructor(options: WhipIngestOptions) {
    super();
    this.#options = options;
  }

  /** True while a WHIP publisher holds or is negotiating this stream. */
  holds(stream: string): boolean {
    return this.#pending.has(stream) || [...this.#sessions.values()].some((s) => s.stream === stream);
  }

  get sessions(): WhipSession[] {
    return [...this.#sessions.values()];
  }

  /** Negotiate a publish. Throws SC_ERR_STREAM_NAME, SC_ERR_SDP, SC_ERR_STREAM_BUSY (or the error accept() returned), SC_ERR_INVALID_STATE. */
  async publish(streamName: string, offer: string, ip: string): Promise<{ session: WhipSession; answer: string }> {
    const stream = assertStreamName(streamName);
    if (this.#closed) throw new InvalidStateError('WHIP ingest');
    checkWhipOffer(offer, this.#options.webrtc.maxSdpBytes);
    this.#refuseIfBusy(stream, ip);
    this.#pending.add(stream);
    let created: { session: WhipSession; answer: string };
    try {
      const { webrtc } = this.#options;
      created = await WhipSession.create(stream, offer, {
        ice: webrtc,
        connectTimeoutMs: webrtc.connectTimeoutMs,
        silenceTimeoutMs: webrtc.silenceTimeoutMs,
        log: this.#options.log,
      });
    } finally {
      this.#pending.delete(stream);
    }
    const { session } = created;
    if (this.#closed) {
      await session.close('server-closed');
      throw new InvalidStateError('WHIP ingest');
    }
    this.#sessions.set(session.id, session);
    session.once('closed', (reason) => {
      this.#sessions.delete(session.id);
      this.emit('unpublish', { stream, sessionId: session.id, input: session.input, reason });
    });
    this.emit('publish', { stream, sessionId: session.id, ip, input: session.input });
    return created;
  }

  /** DELETE of a session's Location. Throws SC_ERR_WEBRTC_SESSION for an unknown one. */
  async end(stream: string, id: string): Promise<void> {
    const session = SESSION_ID.test(id) ? this.#sessions.get(id) : undefined;
    if (!session || session.stream !== stream) throw new ScopecastError('SC_ERR_WEBRTC_SESSION', id.slice(0, 40));
    await session.close('deleted');
  }

  /** Refuse new publishers, end every session. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= Promise.all([...this.#sessions.values()].map((s) => s.close('server-closed'))).then(() => undefined);
    return this.#closed;
  }

  #refuseIfBusy(stream: string, ip: string): void {
    const verdict = this.holds(stream) ? 'stream is already being published over WHIP' : this.#options.accept(stream);
    if (!verdict) return;
    const reason = typeof verdict === 'string' ? verdict : verdict.message;
    this.#options.log.warn({ stream, ip }, `WHIP publish refused: ${reason}`);
    this.emit('rejected', { stream, ip, reason });
    throw typeof verdict === 'string' ? new ScopecastError('SC_ERR_STREAM_BUSY', `${stream}: ${verdict}`) : verdict;
  }
}
