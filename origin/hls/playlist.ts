// Pure LL-HLS playlist writers (RFC 8216bis). Input: a snapshot of the timeline; output: text.
import type { PartStore, Segment } from './part-store.js';

export interface MediaPlaylistInput {
  store: PartStore;
  /** Declared PART-TARGET, s (from the edge's profile). */
  partTarget: number;
  /** PART-HOLD-BACK in part targets. */
  partHoldBackParts: number;
  /** Segments back from the live edge that still list their parts. */
  partsListedSegments: number;
}

const fixed = (n: number, digits = 5): string => n.toFixed(digits);

function isoDate(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

export function initUri(generation: number): string {
  return `init_${generation}.mp4`;
}
export function segmentUri(msn: number): string {
  return `seg_${msn}.m4s`;
}
export function partUri(seq: number): string {
  return `part_${seq}.m4s`;
}

export function writeMediaPlaylist(input: MediaPlaylistInput): string {
  const { store } = input;
  // PART-TARGET must be >= every part; round up to the millisecond so a 0.2000001 part fits.
  const partTarget = Math.max(input.partTarget, Math.ceil(store.maxPartDuration * 1000) / 1000);
  const target = Math.max(1, Math.ceil(store.maxSegmentDuration - 0.001));
  const segments = store.segments;
  const lines: string[] = [
    '#EXTM3U',
    '#EXT-X-VERSION:9',
    `#EXT-X-TARGETDURATION:${target}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${fixed(partTarget * input.partHoldBackParts, 3)}`,
    `#EXT-X-PART-INF:PART-TARGET=${fixed(partTarget, 3)}`,
    `#EXT-X-MEDIA-SEQUENCE:${store.firstMsn}`,
  ];
  if (store.discontinuitySequence > 0) lines.push(`#EXT-X-DISCONTINUITY-SEQUENCE:${store.discontinuitySequence}`);
  lines.push('#EXT-X-INDEPENDENT-SEGMENTS');

  const lastMsn = segments.at(-1)?.msn ?? 0;
  let generation = -1;
  for (const segment of segments) {
    if (segment.discontinuity) lines.push('#EXT-X-DISCONTINUITY');
    if (segment.generation !== generation) {
      generation = segment.generation;
      lines.push(`#EXT-X-MAP:URI="${initUri(generation)}"`);
    }
    writeSegment(lines, segment, lastMsn - segment.msn < input.partsListedSegments && !store.ended);
  }
  if (store.ended) {
    lines.push('#EXT-X-ENDLIST');
  } else {
    lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${partUri(store.nextPartSeq)}"`);
  }
  return lines.join('\n') + '\n';
}

function writeSegment(lines: string[], segment: Segment, listParts: boolean): void {
  const first = segment.parts[0];
  if (first?.wallClockMs !== undefined) lines.push(`#EXT-X-PROGRAM-DATE-TIME:${isoDate(first.wallClockMs)}`);
  if (listParts) {
    for (const part of segment.parts) {
      lines.push(
        `#EXT-X-PART:DURATION=${fixed(part.duration)},URI="${partUri(part.seq)}"${part.independent ? ',INDEPENDENT=YES' : ''}`,
      );
    }
  }
  if (segment.complete) {
    lines.push(`#EXTINF:${fixed(segment.duration)},`);
    lines.push(segmentUri(segment.msn));
  }
}

export interface VariantInput {
  uri: string;
  bandwidth: number;
  averageBandwidth?: number;
  codecs: string[];
  width?: number;
  height?: number;
  frameRate?: number;
}

export function writeMasterPlaylist(variants: readonly VariantInput[]): string {
  const lines = ['#EXTM3U', '#EXT-X-VERSION:9', '#EXT-X-INDEPENDENT-SEGMENTS'];
  for (const v of variants) {
    const attrs = [`BANDWIDTH=${Math.round(v.bandwidth)}`];
    if (v.averageBandwidth) attrs.push(`AVERAGE-BANDWIDTH=${Math.round(v.averageBandwidth)}`);
    attrs.push(`CODECS="${v.codecs.join(',')}"`);
    if (v.width && v.height) attrs.push(`RESOLUTION=${v.width}x${v.height}`);
    if (v.frameRate) attrs.push(`FRAME-RATE=${v.frameRate.toFixed(3)}`);
    lines.push(`#EXT-X-STREAM-INF:${attrs.join(',')}`, v.uri);
  }
  return lines.join('\n') + '\n';
}
