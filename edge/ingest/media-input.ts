import type { Writable } from 'node:stream';
import type { TranscodeInput } from '../../codecs/profiles/index.js';
import type { FlvSource } from './flv-source.js';

/** What an input sees of a freshly started encoder. */
export interface EncoderPort {
  /** ffmpeg's stdin. */
  readonly stdin: Writable;
  /** The encoder cannot keep up or its input went bad: replace it (the input is attached again). */
  restart(reason: string): void;
}

/**
 * One published console as the pipeline sees it, whatever protocol it came in on. The pipeline
 * builds the encoder's arguments from `transcodeInput` and calls attach() on every encoder
 * (re)start; the returned function detaches it (old encoder gone or pipeline finishing).
 */
export interface MediaInput {
  /** Which ingest accepted the console (shown in /api/streams). */
  readonly kind: 'rtmp' | 'whip';
  /** How ffmpeg reads this input. */
  readonly transcodeInput: TranscodeInput;
  attach(encoder: EncoderPort): () => void;
  /** Counters for /api/streams. */
  readonly stats?: Record<string, unknown>;
}

// Encoder stdin backlog beyond which ffmpeg is considered stuck and restarted.
const MAX_STDIN_BACKLOG = 16 * 1024 * 1024;

/** RTMP: the FLV byte stream written to stdin, from the header and cached GOP on, per encoder. */
export class FlvMediaInput implements MediaInput {
  readonly kind = 'rtmp' as const;
  readonly transcodeInput: TranscodeInput = { kind: 'pipe' };
  readonly #source: FlvSource;

  constructor(source: FlvSource) {
    this.#source = source;
  }

  attach(encoder: EncoderPort): () => void {
    // A fresh encoder needs the FLV header, sequence headers and a keyframe: subscribe anew.
    let detach: (() => void) | null = null;
    let attached = true;
    detach = this.#source.subscribe((chunk) => {
      if (!attached) return;
      if (encoder.stdin.writableLength > MAX_STDIN_BACKLOG) {
        attached = false;
        detach?.();
        encoder.restart(`encoder not keeping up (stdin backlog ${encoder.stdin.writableLength} bytes)`);
        return;
      }
      encoder.stdin.write(chunk);
    });
    return () => {
      attached = false;
      detach?.();
    };
  }
}
