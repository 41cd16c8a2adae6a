import { InvalidStateError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { LiveStream } from './live-stream.js';

export interface RegistryEvents extends Record<string, unknown[]> {
  started: [stream: LiveStream];
  ended: [stream: LiveStream];
  removed: [stream: LiveStream];
}

export interface StreamRegistryOptions {
  /** How long an ended stream stays listed and playable (ENDLIST), ms. */
  endedRetentionMs: number;
}

/**
 * The embedded in-process registry of live streams (one origin machine). Owns the streams and
 * the timers that forget ended ones.
 */
export class StreamRegistry extends TypedEmitter<RegistryEvents> {
  readonly #streams = new Map<string, LiveStream>();
  readonly #removalTimers = new Map<string, NodeJS.Timeout>();
  readonly #endedRetentionMs: number;
  #closed = false;

  constructor(options: StreamRegistryOptions) {
    super();
    this.#endedRetentionMs = options.endedRetentionMs;
  }

  get(name: string): LiveStream | undefined {
    return this.#streams.get(name);
  }

  list(): LiveStream[] {
    return [...this.#streams.values()];
  }

  /**
   * The live stream of this name, or a fresh one (replacing an ended one). relayedFrom: the
   * cluster origin it is pulled from (null: pushed here by an edge).
   */
  begin(name: string, edgeId: string, profile: string, relayedFrom: string | null = null): LiveStream {
    if (this.#closed) throw new InvalidStateError('stream registry');
    const existing = this.#streams.get(name);
    if (existing && existing.state === 'live') return existing;
    if (existing) this.#remove(existing);
    const stream = new LiveStream(name, edgeId, profile, relayedFrom);
    this.#streams.set(name, stream);
    this.emit('started', stream);
    return stream;
  }

  end(name: string): LiveStream | undefined {
    const stream = this.#streams.get(name);
    if (!stream || stream.state === 'ended') return stream;
    stream.end();
    this.emit('ended', stream);
    const timer = setTimeout(() => this.#remove(stream), this.#endedRetentionMs);
    timer.unref();
    this.#removalTimers.set(name, timer);
    return stream;
  }

  #remove(stream: LiveStream): void {
    if (this.#streams.get(stream.name) !== stream) return;
    clearTimeout(this.#removalTimers.get(stream.name));
    this.#removalTimers.delete(stream.name);
    this.#streams.delete(stream.name);
    stream.close();
    this.emit('removed', stream);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const timer of this.#removalTimers.values()) clearTimeout(timer);
    this.#removalTimers.clear();
    for (const stream of this.#streams.values()) stream.close();
    this.#streams.clear();
  }
}
