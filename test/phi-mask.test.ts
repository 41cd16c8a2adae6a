// PHI masking end to end on loopback: RTMP console -> edge (mask, scale, encode) -> origin LL-HLS,
// checked on every frame a viewer gets; a console that switches resolution mid-stream; and the
// fail-closed refusal of a console the edge has no profile for. Waits are bounded and wait on real
// state; no timing thresholds.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { UNLISTED_REASON } from '../edge/consoles.js';
import { bearer, scrapeHeaders } from './helpers/auth.js';
import { ffmpegChildren } from './helpers/process.js';
import { eventually, startStack, type Stack } from './helpers/stack.js';
import { WhipPublisher } from './helpers/whip-publisher.js';

// endoscopy-1080p re-encodes every console picture to this size.
const WIDTH = 1280;
const HEIGHT = 720;
// A patient-name banner: left half of the top quarter of the console's picture.
const BANNER = { x: 0, y: 0, w: 0.5, h: 0.25 };
const CONSOLES = { allowUnlisted: false, streams: { or1: { profile: 'endoscopy-1080p', masks: [BANNER] } } };
// Pixels next to a region's inner edges may blend (bilinear scale, 4:2:0 chroma, deblocking): skip them.
const MARGIN = 2;
// Decoded to gray (full range): black comes out ~0, white ~255, color=0x808080 ~128.
const DARK = 20;
const WHITE = 255;
const GRAY = 128;
const TOLERANCE = 28;

interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

// The banner in output pixels less the margin on its inner edges (its outer edges are the frame's).
const MASKED: Box = { x0: 0, y0: 0, x1: Math.round((BANNER.x + BANNER.w) * WIDTH) - MARGIN, y1: Math.round((BANNER.y + BANNER.h) * HEIGHT) - MARGIN };
// The unmasked picture: beside the banner in the top band, and everything below it.
const BESIDE: Box = { x0: MASKED.x1 + 2 * MARGIN, y0: 0, x1: WIDTH, y1: MASKED.y1 };
const BELOW: Box = { x0: 0, y0: MASKED.y1 + 2 * MARGIN, x1: WIDTH, y1: HEIGHT };

function range(frame: Buffer, box: Box): { min: number; max: number } {
  let min = 255;
  let max = 0;
  for (let y = box.y0; y < box.y1; y++) {
    for (let x = box.x0; x < box.x1; x++) {
      const v = frame[y * WIDTH + x]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
  }
  return { min, max };
}

/** Runs one ffmpeg to completion, `input` on its stdin; resolves with its stdout. */
async function runFfmpeg(args: string[], input?: Buffer): Promise<Buffer> {
  const p = new FfmpegProcess({ args: ['-hide_banner', '-nostdin', '-loglevel', 'error', ...args], stdin: input ? 'pipe' : 'ignore' });
  const chunks: Buffer[] = [];
  p.stdout?.on('data', (c: Buffer) => chunks.push(c));
  const exited = new Promise<{ code: number | null; stderrTail: string }>((resolve) => p.once('died', resolve));
  if (input) p.stdin?.end(input);
  const exit = await exited;
  await p.close();
  if (exit.code !== 0) throw new Error(`ffmpeg failed (${exit.code}): ${exit.stderrTail}`);
  return Buffer.concat(chunks);
}

// H.264 as a console sends it (1 s GOP, no B-frames) + AAC. CBR with filler keeps a flat picture's
// frames as large as a real console's: the edge probes 64 KB of input before it starts encoding,
// which tiny frames would take seconds to fill.
const CONSOLE_CODECS = [
  '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
  '-b:v', '2M', '-maxrate', '2M', '-bufsize', '1M', '-x264-params', 'nal-hrd=cbr',
  '-c:a', 'aac', '-b:a', '64k',
];
const lavfiInputs = (picture: string): string[] => ['-f', 'lavfi', '-i', `${picture}:rate=30`, '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000'];

/** A console publishing `picture` (a lavfi source with its size) + tone over RTMP, in real time, until closed. */
function publishLive(t: Test, url: string, picture: string): FfmpegProcess {
  const publisher = new FfmpegProcess({ args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', ...lavfiInputs(picture), ...CONSOLE_CODECS, '-f', 'flv', url] });
  t.teardown(() => publisher.close());
  return publisher;
}

/**
 * A console's output as a file: SPS/PPS in band (MPEG-TS), timestamps from `offsetSeconds`, so
 * clips concatenate into one stream.
 */
async function encodeClip(path: string, picture: string, seconds: number, offsetSeconds = 0): Promise<void> {
  await runFfmpeg([...lavfiInputs(picture), '-t', String(seconds), ...CONSOLE_CODECS, '-output_ts_offset', String(offsetSeconds), '-f', 'mpegts', path]);
}

/** Publish clips back to back, in real time, as one RTMP session (a console that changes mode mid-stream). */
function publishClips(t: Test, url: string, paths: string[]): FfmpegProcess {
  const publisher = new FfmpegProcess({
    args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-i', `concat:${paths.join('|')}`, '-c', 'copy', '-f', 'flv', url],
  });
  t.teardown(() => publisher.close());
  return publisher;
}

function clipDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-phi-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

interface Segment {
  uri: string;
  /** The init segment it follows (a new one after every encoder restart). */
  init: string;
  /** Every frame, decoded to gray WIDTH x HEIGHT. */
  frames: Buffer[];
}

/**
 * Reads the stream's LL-HLS at the origin from its first segment on: each segment (with its init)
 * is fetched as soon as it is listed and decoded in the background, in order, until `enough` holds
 * for the decoded ones (which are returned: every segment from the first one to there). A segment
 * that left the live window unread fails the test rather than go unchecked.
 */
async function collectSegments(stack: Stack, stream: string, enough: (segments: Segment[]) => boolean, what: string): Promise<{ segments: Segment[] }> {
  const base = `${stack.originUrl}/hls/${stream}/main`;
  const get = async (uri: string): Promise<Buffer> => {
    const res = await fetch(`${base}/${uri}`, { headers: bearer() });
    if (!res.ok) throw new Error(`GET ${uri}: ${res.status}`);
    return Buffer.from(await res.arrayBuffer());
  };
  const inits = new Map<string, Buffer>();
  const segments: Segment[] = [];
  let fetched = 0;
  let decoding: Promise<void> = Promise.resolve();
  let decodeError: unknown = null;
  let done = false;
  const read = eventually(async () => {
    if (decodeError) throw decodeError;
    const playlist = (await get('stream.m3u8')).toString();
    let init: string | null = null;
    for (const line of playlist.split('\n')) {
      const map = /^#EXT-X-MAP:URI="([^"]+)"/.exec(line);
      if (map) init = map[1]!;
      const n = Number(/^seg_(\d+)\.m4s$/.exec(line)?.[1] ?? Number.NaN);
      if (!init || !(n >= fetched)) continue;
      if (n > fetched) throw new Error(`seg_${fetched} left the live window before it was read`);
      const initUri = init;
      if (!inits.has(initUri)) inits.set(initUri, await get(initUri));
      const mp4 = Buffer.concat([inits.get(initUri)!, await get(line)]);
      fetched += 1;
      decoding = decoding
        .then(async () => {
          if (done) return;
          const gray = await runFfmpeg(['-f', 'mp4', '-i', 'pipe:0', '-map', '0:v:0', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], mp4);
          segments.push({ uri: line, init: initUri, frames: decodeGray(gray, line) });
        })
        .catch((err: unknown) => {
          decodeError = err;
        });
    }
    return enough(segments) ? true : undefined;
  }, 120_000, what);
  try {
    await read;
  } finally {
    // Segments fetched after this are not decoded (nor checked, nor returned).
    done = true;
  }
  await decoding;
  if (decodeError) throw decodeError;
  return { segments };
}

function decodeGray(gray: Buffer, uri: string): Buffer[] {
  const size = WIDTH * HEIGHT;
  if (gray.length === 0 || gray.length % size !== 0) throw new Error(`${uri}: ${gray.length} bytes is not whole ${WIDTH}x${HEIGHT} frames`);
  const frames: Buffer[] = [];
  for (let o = 0; o < gray.length; o += size) frames.push(gray.subarray(o, o + size));
  return frames;
}

/** The source level the unmasked picture of a frame shows (one of `levels`), or null if it shows none. */
function unmaskedLevel(frame: Buffer, levels: readonly number[]): number | null {
  const areas = [range(frame, BESIDE), range(frame, BELOW)];
  return levels.find((level) => areas.every(({ min, max }) => min >= level - TOLERANCE && max <= level + TOLERANCE)) ?? null;
}

/** Every frame: the banner black, the rest showing one of `levels`. Returns the level of each frame, in order. */
function checkFrames(t: Test, segments: Segment[], levels: readonly number[]): number[] {
  const shown: number[] = [];
  let brightestMasked = 0;
  let unexpected = 0;
  for (const { frames } of segments) {
    for (const frame of frames) {
      brightestMasked = Math.max(brightestMasked, range(frame, MASKED).max);
      const level = unmaskedLevel(frame, levels);
      if (level === null) unexpected++;
      else shown.push(level);
    }
  }
  const count = segments.reduce((n, s) => n + s.frames.length, 0);
  t.ok(count > 0, `${count} frames in ${segments.length} segments`);
  t.ok(brightestMasked <= DARK, `the banner is black in every frame (brightest pixel ${brightestMasked})`);
  t.equal(unexpected, 0, `the unmasked picture is intact in every frame (source levels ${levels.join(', ')})`);
  return shown;
}

t.test('a masked region is black in the origin LL-HLS; the rest of the picture is intact', async (t) => {
  const stack = await startStack({ consoles: CONSOLES });
  t.teardown(() => stack.close());
  publishLive(t, stack.rtmpUrl('or1'), 'color=white:size=1920x1080');

  const { segments } = await collectSegments(stack, 'or1', (s) => s.filter((x) => x.frames.length === 30).length >= 2, 'two complete segments at the origin');
  checkFrames(t, segments, [WHITE]);
  const info = (await (await fetch(`${stack.edgeUrl}/api/streams/or1`, { headers: bearer() })).json()) as Record<string, unknown>;
  t.equal(info['profile'], 'endoscopy-1080p');
  t.equal(info['maskRegions'], 1, 'the edge API says one region is masked');
});

t.test('the mask follows a console that switches resolution mid-stream, in the same encoder', async (t) => {
  // 640x360 for 3 s, then 1920x1080 in the same RTMP session, new SPS in band: what a console
  // sends when its output mode changes. The source's white/gray tells the two apart at the origin.
  const dir = clipDir(t);
  await encodeClip(join(dir, 'sd.ts'), 'color=white:size=640x360', 3);
  await encodeClip(join(dir, 'hd.ts'), 'color=0x808080:size=1920x1080', 10, 3);
  const stack = await startStack({ consoles: CONSOLES });
  t.teardown(() => stack.close());
  publishClips(t, stack.rtmpUrl('or1'), [join(dir, 'sd.ts'), join(dir, 'hd.ts')]);

  const allGray = (s: Segment): boolean => s.frames.length === 30 && s.frames.every((f) => unmaskedLevel(f, [GRAY]) === GRAY);
  const { segments } = await collectSegments(stack, 'or1', (s) => s.filter(allGray).length >= 2, 'two complete segments of the 1920x1080 picture');
  t.same([...new Set(segments.map((s) => s.init))], ['init_0.mp4'], 'one init segment: one encoder run, no restart');
  const shown = checkFrames(t, segments, [WHITE, GRAY]);
  const firstGray = shown.indexOf(GRAY);
  t.ok(firstGray > 0, `${firstGray} frames of the 640x360 picture, then ${shown.length - firstGray} of the 1920x1080 one`);
  t.ok(shown.slice(firstGray).every((level) => level === GRAY), 'one switch');
});

t.test('an unlisted console is refused (RTMP and WHIP): no encoder, nothing at the origin', async (t) => {
  const stack = await startStack({ consoles: { allowUnlisted: false, streams: { or1: 'endoscopy-1080p' } } });
  t.teardown(() => stack.close());
  const publisher = new FfmpegProcess({
    args: ['-hide_banner', '-loglevel', 'error', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=320x240:rate=30', '-t', '10', '-c:v', 'libx264', '-preset', 'ultrafast', '-f', 'flv', stack.rtmpUrl('or9')],
  });
  t.teardown(() => publisher.close());
  const exit = await new Promise<{ code: number | null } | null>((resolve) => {
    publisher.once('died', resolve);
    setTimeout(() => resolve(null), 15_000);
  });
  t.ok(exit, 'the edge disconnected the publisher');
  t.not(exit?.code, 0, 'the publish failed');
  t.equal(stack.edge.pipelines.size, 0, 'no pipeline');
  t.same(await ffmpegChildren(), [], 'no encoder was started');
  t.equal((await fetch(`${stack.originUrl}/api/streams/or9`, { headers: bearer() })).status, 404, 'the origin never heard of it');

  const whip = new WhipPublisher();
  t.teardown(() => whip.close({ skipDelete: true }));
  const res = await stack.edge.app.inject({
    method: 'POST',
    url: '/whip/or9',
    headers: { 'content-type': 'application/sdp', ...bearer('publisher', 'or9') },
    payload: await whip.offer(),
  });
  t.equal(res.statusCode, 403);
  t.equal(res.json().code, 'SC_ERR_CONSOLE_UNLISTED');
  t.equal(res.json().message, `console is not listed at this edge: ${UNLISTED_REASON}`);
  t.equal(stack.edge.pipelines.size, 0, 'still no pipeline');

  const metrics = await (await fetch(`${stack.edgeUrl}/metrics`, { headers: scrapeHeaders() })).text();
  t.match(metrics, /scopecast_edge_publishes_total\{outcome="unlisted"\} 2\n/, 'both refusals counted as unlisted');
  t.notMatch(metrics, /outcome="accepted"/);
});
