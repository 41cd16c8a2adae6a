import { InvalidStateError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { FfmpegProcess, type FfmpegExit, type FfmpegProcessOptions } from './process.js';

export interface SupervisorOptions {
  /** Called for every (re)start: fresh options, so arguments may change between runs. */
  processOptions: () => FfmpegProcessOptions;
  /** First restart delay; doubles per consecutive crash up to maxBackoffMs. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that lived this long resets the backoff. */
  healthyAfterMs?: number;
}

export interface SupervisorEvents extends Record<string, unknown[]> {
  /** A new child is running; wire its stdout/stdin here. */
  started: [process: FfmpegProcess, attempt: number];
  /** The child died on its own; a restart is scheduled after delayMs. */
  died: [exit: FfmpegExit, delayMs: number];
  /** close() finished: no child is left. Emitted exactly once. */
  closed: [];
}

/**
 * Keeps one ffmpeg running: restarts it with backoff when it dies, ends it on close().
 * There is never more than one child at a time.
 */
export class FfmpegSupervisor extends TypedEmitter<SupervisorEvents> {
  readonly #options: Required<Omit<SupervisorOptions, 'processOptions'>> & Pick<SupervisorOptions, 'processOptions'>;
  #current: FfmpegProcess | null = null;
  #restartTimer: NodeJS.Timeout | null = null;
  #attempt = 0;
  #backoffMs: number;
  #closed = false;
  #closePromise: Promise<void> | null = null;
  #restarts = 0;

  constructor(options: SupervisorOptions) {
    super();
    this.#options = {
      initialBackoffMs: 250,
      maxBackoffMs: 5000,
      healthyAfterMs: 10_000,
      ...options,
    };
    this.#backoffMs = this.#options.initialBackoffMs;
  }

  get process(): FfmpegProcess | null {
    return this.#current;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get closed(): boolean {
    return this.#closed;
  }

  start(): void {
    if (this.#closed) throw new InvalidStateError('ffmpeg supervisor');
    if (this.#current || this.#restartTimer) return;
    this.#spawn();
  }

  #spawn(): void {
    this.#restartTimer = null;
    if (this.#closed) return;
    this.#attempt += 1;
    const startedAt = Date.now();
    const child = new FfmpegProcess(this.#options.processOptions());
    this.#current = child;
    child.once('died', (exit) => {
      if (this.#current !== child) return;
      this.#current = null;
      if (this.#closed) return;
      if (Date.now() - startedAt >= this.#options.healthyAfterMs) this.#backoffMs = this.#options.initialBackoffMs;
      const delay = this.#backoffMs;
      this.#backoffMs = Math.min(this.#backoffMs * 2, this.#options.maxBackoffMs);
      this.#restarts += 1;
      this.#restartTimer = setTimeout(() => this.#spawn(), delay);
      this.emit('died', exit, delay);
    });
    this.emit('started', child, this.#attempt);
  }

  /** End the current child (its output went bad, or it stalled) and start a fresh one at once. */
  restart(): void {
    const child = this.#current;
    if (!child || this.#closed) return;
    this.#current = null;
    this.#restarts += 1;
    void child.close().then(() => {
      if (!this.#closed && !this.#current && !this.#restartTimer) this.#spawn();
    });
  }

  /** Idempotent; resolves when the child (if any) has exited. */
  close(): Promise<void> {
    if (this.#closePromise) return this.#closePromise;
    this.#closed = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    this.#restartTimer = null;
    const child = this.#current;
    this.#current = null;
    this.#closePromise = (child ? child.close() : Promise.resolve()).then(() => {
      this.emit('closed');
      this.removeAllListeners();
    });
    return this.#closePromise;
  }
}
