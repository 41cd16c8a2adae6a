// One ordered lane of disk writes per recording. Ingest only enqueues (never awaits), so a slow
// or failing disk cannot hold up the live stream; a failed task is reported and the lane moves on.
// Bounded in bytes: past the bound new media is refused (and reported) instead of piling up in memory.

export type RecordingOp = 'open' | 'segment' | 'playlist' | 'annotations' | 'meta' | 'chapters' | 'backlog' | 'delete' | 'retention' | 'list';

export interface SerialQueueOptions {
  /** Media bytes that may wait for the disk. */
  maxPendingBytes: number;
  onError: (op: RecordingOp, error: unknown) => void;
}

export class SerialQueue {
  readonly #maxPendingBytes: number;
  readonly #onError: SerialQueueOptions['onError'];
  #tail: Promise<void> = Promise.resolve();
  #pendingBytes = 0;

  constructor(options: SerialQueueOptions) {
    this.#maxPendingBytes = options.maxPendingBytes;
    this.#onError = options.onError;
  }

  /** Fire and forget, after everything queued before. False (and a 'backlog' error) when over the bound. */
  push(op: RecordingOp, task: () => Promise<void>, bytes = 0): boolean {
    if (bytes > 0 && this.#pendingBytes + bytes > this.#maxPendingBytes) {
      this.#onError('backlog', new Error(`${this.#pendingBytes} bytes already waiting for the disk`));
      return false;
    }
    this.#enqueue(op, task, bytes).catch(() => undefined); // reported by #enqueue
    return true;
  }

  /** Like push, for a caller that waits: resolves with the task's result, rejects with its error. */
  run<T>(op: RecordingOp, task: () => Promise<T>): Promise<T> {
    return this.#enqueue(op, task, 0);
  }

  get pendingBytes(): number {
    return this.#pendingBytes;
  }

  /** Resolves once everything queued so far has run. */
  drained(): Promise<void> {
    return this.#tail;
  }

  #enqueue<T>(op: RecordingOp, task: () => Promise<T>, bytes: number): Promise<T> {
    this.#pendingBytes += bytes;
    const result = this.#tail.then(task);
    this.#tail = result.then(
      () => undefined,
      (error: unknown) => this.#onError(op, error),
    ).finally(() => {
      this.#pendingBytes -= bytes;
    });
    return result;
  }
}
