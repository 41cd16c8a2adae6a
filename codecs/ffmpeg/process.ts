import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { ScopecastError } from '../../lib/errors.js';
import { TypedEmitter } from '../../lib/typed-emitter.js';
import { locateBinary } from './locate.js';

export interface FfmpegExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Last lines ffmpeg wrote to stderr: the reason it died, usually. */
  stderrTail: string;
}

export interface FfmpegProcessEvents extends Record<string, unknown[]> {
  /** The child started (pid known). */
  spawn: [pid: number];
  /** We ended it with close(). */
  closed: [];
  /** It exited on its own (crash, input ended, bad arguments). */
  died: [exit: FfmpegExit];
  /** One line of ffmpeg's stderr (progress and warnings). */
  stderr: [line: string];
}

export interface FfmpegProcessOptions {
  /** Argument array (no shell, ever). Built by the pure builders in codecs/. */
  args: readonly string[];
  binary?: 'ffmpeg' | 'ffprobe';
  /** Explicit path; otherwise FFMPEG_PATH / PATH. */
  path?: string;
  stdin?: 'pipe' | 'ignore';
  stdout?: 'pipe' | 'ignore';
  /** Extra output pipes on fds 3, 4, ... (`pipe:3` in ffmpeg arguments); read them with output(fd). */
  extraOutputs?: number;
  /** How long close() waits after SIGTERM/`q` before SIGKILL. */
  killTimeoutMs?: number;
}

const STDERR_TAIL_LINES = 20;

/**
 * One ffmpeg child. Owns exactly one OS process: close() ends it and resolves only once the
 * process has exited, so no caller can leave an orphan behind.
 */
export class FfmpegProcess extends TypedEmitter<FfmpegProcessEvents> {
  readonly #child: ChildProcess;
  readonly #killTimeoutMs: number;
  readonly #stderrTail: string[] = [];
  readonly #exited: Promise<FfmpegExit>;
  #closing = false;
  #exit: FfmpegExit | null = null;

  constructor(options: FfmpegProcessOptions) {
    super();
    const binary = options.binary ?? 'ffmpeg';
    const path = options.path ?? locateBinary(binary);
    if (!path) throw new ScopecastError('SC_ERR_FFMPEG_SPAWN', `${binary} not found (set FFMPEG_PATH or install it)`);
    this.#killTimeoutMs = options.killTimeoutMs ?? 2000;
    this.#child = spawn(path, [...options.args], {
      stdio: [options.stdin ?? 'ignore', options.stdout ?? 'pipe', 'pipe', ...Array<'pipe'>(options.extraOutputs ?? 0).fill('pipe')],
      shell: false,
      windowsHide: true,
    });
    let pending = '';
    this.#child.stderr?.setEncoding('utf8');
    this.#child.stderr?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split(/\r?\n|\r/);
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line) continue;
        this.#stderrTail.push(line);
        if (this.#stderrTail.length > STDERR_TAIL_LINES) this.#stderrTail.shift();
        this.emit('stderr', line);
      }
    });
    // A closed pipe on our side must not crash the process with EPIPE.
    this.#child.stdin?.on('error', () => {});
    this.#child.stdout?.on('error', () => {});
    for (const extra of this.#child.stdio.slice(3)) extra?.on('error', () => {});
    this.#exited = new Promise((resolve) => {
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.#exit) return;
        this.#exit = { code, signal, stderrTail: this.#stderrTail.join('\n') };
        resolve(this.#exit);
        if (this.#closing) this.emit('closed');
        else this.emit('died', this.#exit);
      };
      this.#child.once('exit', finish);
      this.#child.once('error', (error) => {
        this.#stderrTail.push(`spawn error: ${error.message}`);
        finish(null, null);
      });
    });
    this.#child.once('spawn', () => {
      if (this.#child.pid !== undefined) this.emit('spawn', this.#child.pid);
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get stdin(): Writable | null {
    return this.#child.stdin;
  }

  /** An extra output pipe (fd >= 3), or null if it was not requested. */
  output(fd: number): Readable | null {
    if (fd < 3) return null;
    const stream = this.#child.stdio[fd];
    return stream && 'read' in stream ? (stream as Readable) : null;
  }

  get stdout(): Readable | null {
    return this.#child.stdout;
  }

  get running(): boolean {
    return this.#exit === null;
  }

  /** Resolves when the process has exited, however it ended. */
  exited(): Promise<FfmpegExit> {
    return this.#exited;
  }

  /** Idempotent. Polite stop (SIGTERM), then SIGKILL after killTimeoutMs. */
  async close(): Promise<void> {
    if (!this.#closing && this.#exit === null) {
      this.#closing = true;
      this.#child.stdin?.destroy();
      this.#child.kill('SIGTERM');
      const timer = setTimeout(() => this.#child.kill('SIGKILL'), this.#killTimeoutMs);
      await this.#exited;
      clearTimeout(timer);
    }
    this.#closing = true;
    await this.#exited;
    this.#child.stdout?.destroy();
    this.#child.stderr?.destroy();
  }
}
