// ffmpeg's `-progress` output: key=value lines, one block per stats period, each ending with
// `progress=continue` (or `end`). Pure: feed text, get one report per finished block.

export interface EncoderProgress {
  /** Frames encoded so far. */
  frame: number;
  /** Encoding frame rate ffmpeg measured. */
  fps: number;
  /** Encoding speed relative to real time (1 = keeping up). Null while ffmpeg reports N/A. */
  speed: number | null;
  /** Frames dropped / duplicated by the constant-frame-rate stage (input late or early). */
  dropFrames: number;
  dupFrames: number;
  /** Output media time, ms. */
  outTimeMs: number;
  ended: boolean;
}

export class ProgressParser {
  #pending = '';
  #block = new Map<string, string>();

  /** Parse a chunk of `-progress` output; returns the blocks it completed. */
  push(text: string): EncoderProgress[] {
    this.#pending += text;
    const lines = this.#pending.split(/\r?\n/);
    this.#pending = lines.pop() ?? '';
    if (this.#pending.length > 4096) this.#pending = ''; // not progress output: don't grow
    const done: EncoderProgress[] = [];
    for (const line of lines) {
      const eq = line.indexOf('=');
      if (eq <= 0) continue;
      const key = line.slice(0, eq).trim();
      const value = line.slice(eq + 1).trim();
      if (key !== 'progress') {
        if (this.#block.size < 64) this.#block.set(key, value);
        continue;
      }
      done.push(toProgress(this.#block, value === 'end'));
      this.#block = new Map();
    }
    return done;
  }
}

function toProgress(block: Map<string, string>, ended: boolean): EncoderProgress {
  const num = (key: string): number => {
    const n = Number.parseFloat(block.get(key) ?? '');
    return Number.isFinite(n) ? n : 0;
  };
  const speedText = block.get('speed') ?? '';
  const speed = Number.parseFloat(speedText.replace(/x$/, ''));
  // out_time_us is the precise one; out_time_ms is (despite its name) also microseconds.
  return {
    frame: num('frame'),
    fps: num('fps'),
    speed: Number.isFinite(speed) ? speed : null,
    dropFrames: num('drop_frames'),
    dupFrames: num('dup_frames'),
    outTimeMs: num('out_time_us') / 1000,
    ended,
  };
}
