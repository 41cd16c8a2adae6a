import { PassThrough, Readable } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { CMAF_STREAM_TYPE, INGEST_HEADERS } from '../../lib/ingest-protocol.js';
import type { UplinkTarget } from './stream-uplink.js';

export interface RealtimeUplinkEvents extends Record<string, unknown[]> {
  connected: [];
  disconnected: [error: Error | null];
  /** Frames not sent because the uplink was down or behind (realtime never queues). */
  dropped: [count: number];
}


// More than this unsent on the request body = the uplink is behind: skip to the next keyframe.
const MAX_BACKLOG_BYTES = 512 * 1024;

/**
 * The edge -> origin realtime feed for WebRTC viewers: one long streaming POST per encoder
 * generation carrying the init segment and then one fragment per frame, written as each frame
 * leaves the encoder. Unlike the LL-HLS uplink it never queues: a frame it cannot send now is
 * dropped, and sending resumes at the next keyframe.
 */
export class RealtimeUplink extends TypedEmitter<RealtimeUplinkEvents> {
  readonly #target: UplinkTarget;
  readonly #stream: string;
  readonly #log: FastifyBaseLogger;
  #init: Buffer | null = null;
  #body: PassThrough | null = null;
  #request: AbortController | null = null;
  #waitForKeyframe = true;
  #retryAt = 0;
  #failures = 0;
  #closed = false;
  #sentFrames = 0;
  #droppedFrames = 0;

  constructor(target: UplinkTarget, stream: string, log: FastifyBaseLogger) {
    super();
    this.#target = target;
    this.#stream = stream;
    this.#log = log;
  }

  get stats(): { connected: boolean; sentFrames: number; droppedFrames: number; failures: number } {
    return { connected: this.#body !== null, sentFrames: this.#sentFrames, droppedFrames: this.#droppedFrames, failures: this.#failures };
  }

  /** A new encoder generation: the current request ends and the next one starts with this init. */
  sendInit(data: Buffer): void {
    if (this.#closed) return;
    this.#init = data;
    this.#disconnect(null);
  }

  sendFragment(data: Buffer, keyframe: boolean): void {
    if (this.#closed || !this.#init) return;
    if (!this.#body && keyframe && Date.now() >= this.#retryAt) this.#connect();
    const body = this.#body;
    if (body && this.#waitForKeyframe && keyframe) this.#waitForKeyframe = false;
    if (!body || this.#waitForKeyframe) {
      this.#drop();
      return;
    }
    if (body.writableLength > MAX_BACKLOG_BYTES) {
      this.#waitForKeyframe = true;
      this.#drop();
      return;
    }
    body.write(data);
    this.#sentFrames += 1;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#disconnect(null);
  }

  #drop(): void {
    this.#droppedFrames += 1;
    this.emit('dropped', 1);
  }

  #connect(): void {
    const init = this.#init;
    if (!init) return;
    const body = new PassThrough();
    const controller = new AbortController();
    this.#body = body;
    this.#request = controller;
    this.#waitForKeyframe = true;
    body.write(init);
    const url = `${this.#target.url.replace(/\/$/, '')}/ingest/${this.#stream}/rt/stream`;
    fetch(url, {
      method: 'POST',
      body: Readable.toWeb(body) as ReadableStream<Uint8Array>,
      duplex: 'half',
      headers: {
        'content-type': CMAF_STREAM_TYPE,
        [INGEST_HEADERS.key]: this.#target.ingestKey,
        [INGEST_HEADERS.edge]: this.#target.edgeId,
      },
      signal: controller.signal,
      ...(this.#target.dispatcher ? { dispatcher: this.#target.dispatcher } : {}),
    } as RequestInit & { duplex: 'half' }).then(
      async (res) => {
        const text = res.ok ? '' : (await res.text().catch(() => '')).slice(0, 200);
        if (this.#body === body) this.#failed(res.ok ? null : new Error(`realtime ingest HTTP ${res.status} ${text}`));
      },
      (err: Error) => {
        if (this.#body === body) this.#failed(err);
      },
    );
    this.emit('connected');
  }

  #failed(error: Error | null): void {
    this.#failures += 1;
    const delay = Math.min(this.#target.retryMaxMs, this.#target.retryMinMs * 2 ** Math.min(this.#failures - 1, 10));
    this.#retryAt = Date.now() + delay;
    if (error) this.#log.warn({ stream: this.#stream, err: error.message, retryInMs: delay }, 'realtime uplink failed');
    this.#disconnect(error);
  }

  #disconnect(error: Error | null): void {
    const body = this.#body;
    if (!body) return;
    this.#body = null;
    body.end();
    // Give the origin the end of the body, then make sure the request is gone.
    const request = this.#request;
    this.#request = null;
    if (error || this.#closed) request?.abort();
    this.emit('disconnected', error);
  }
}
