// The edge's own copy of a case: every CMAF fragment the encoder produced, written at the county
// hospital whether or not the uplink delivered it. One directory per publish; one fragmented MP4
// file per encoder generation (init + fragments, playable as it is), and meta.json with the
// times the uplink dropped media, so the gap in the origin's recording can be filled from here.
import { randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { FastifyBaseLogger } from 'fastify';

export interface LocalRecordingMeta {
  id: string;
  stream: string;
  startedAt: string;
  endedAt: string | null;
  /** One file per encoder generation: part0.mp4, part1.mp4... */
  files: string[];
  fragments: number;
  bytes: number;
  /** Wall-clock spans (Unix ms) whose media never reached the origin; the edge file has them. */
  uplinkGaps: Array<{ fromMs: number; toMs: number; fragments: number }>;
  writeErrors: number;
}

/** Whitelisted characters only: the id names a directory. */
export const LOCAL_RECORDING_ID = /^[A-Za-z0-9_-]{1,64}-\d{8}T\d{6}Z-[0-9a-f]{4}$/;

export function localRecordingId(stream: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
  return `${stream}-${stamp}-${randomBytes(2).toString('hex')}`;
}

export class LocalRecorder {
  readonly id: string;
  readonly dir: string;
  readonly #meta: LocalRecordingMeta;
  readonly #log: FastifyBaseLogger;
  #file: WriteStream | null = null;
  #closed: Promise<void> | null = null;

  /** stream must already be whitelisted (lib/stream-name). */
  constructor(options: { root: string; stream: string; log: FastifyBaseLogger; now?: Date }) {
    const now = options.now ?? new Date();
    this.id = localRecordingId(options.stream, now);
    this.dir = join(options.root, this.id);
    this.#log = options.log;
    this.#meta = { id: this.id, stream: options.stream, startedAt: now.toISOString(), endedAt: null, files: [], fragments: 0, bytes: 0, uplinkGaps: [], writeErrors: 0 };
    try {
      mkdirSync(this.dir, { recursive: true });
      this.#writeMeta();
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  get meta(): Readonly<LocalRecordingMeta> {
    return this.#meta;
  }

  /** A new init segment: a new encoder generation, a new file. */
  init(data: Buffer): void {
    if (this.#closed) return;
    this.#endFile();
    const name = `part${this.#meta.files.length}.mp4`;
    this.#meta.files.push(name);
    const file = createWriteStream(join(this.dir, name));
    file.on('error', (err) => this.#failed(err));
    this.#file = file;
    this.#write(data);
    this.#writeMeta();
  }

  fragment(data: Buffer): void {
    if (this.#closed || !this.#file) return;
    this.#write(data);
    this.#meta.fragments += 1;
  }

  /** The uplink dropped media from this span: the origin's copy will lack it, this one has it. */
  noteUplinkGap(fromMs: number, toMs: number, fragments: number): void {
    const last = this.#meta.uplinkGaps.at(-1);
    // Drops come GOP by GOP: one outage is one gap.
    if (last && fromMs - last.toMs < 2000) {
      last.toMs = Math.max(last.toMs, toMs);
      last.fragments += fragments;
    } else {
      this.#meta.uplinkGaps.push({ fromMs, toMs, fragments });
    }
  }

  /** Finish the file and meta.json. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      const file = this.#file;
      this.#file = null;
      if (file) await new Promise<void>((resolve) => file.end(() => resolve()));
      this.#meta.endedAt = new Date().toISOString();
      this.#writeMeta();
    })();
    return this.#closed;
  }

  #write(data: Buffer): void {
    this.#meta.bytes += data.length;
    this.#file?.write(data);
  }

  #endFile(): void {
    this.#file?.end();
    this.#file = null;
  }

  #writeMeta(): void {
    try {
      writeFileSync(join(this.dir, 'meta.json'), JSON.stringify(this.#meta, null, 2));
    } catch (err) {
      this.#failed(err as Error);
    }
  }

  #failed(err: Error): void {
    this.#meta.writeErrors += 1;
    // A full or broken disk must not stop the live stream: log, count, carry on.
    if (this.#meta.writeErrors === 1 || this.#meta.writeErrors % 100 === 0) this.#log.error({ err: err.message, recording: this.id }, 'local recording write failed');
  }
}
