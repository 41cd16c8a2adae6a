import t from 'tap';
import { FfmpegProcess } from '../codecs/ffmpeg/index.js';
import { drawStamp, readStamp, STAMP_CELLS, STAMP_MAX_MS, STAMP_STRIP_FRACTION, stripHeight } from '../codecs/barcode/index.js';

/** Runs one ffmpeg to completion through the supervised layer; resolves with its stdout. */
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

function frames(data: Buffer, frameBytes: number): Buffer[] {
  const out: Buffer[] = [];
  for (let o = 0; o + frameBytes <= data.length; o += frameBytes) out.push(data.subarray(o, o + frameBytes));
  return out;
}

/** Deterministic pseudo-random bytes (xorshift), so a failure reproduces. */
function noise(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

t.test('layout constants', async (t) => {
  t.equal(STAMP_CELLS, 64);
  t.ok(STAMP_STRIP_FRACTION > 0 && STAMP_STRIP_FRACTION <= 0.1);
  t.equal(stripHeight(1080), 90);
  t.equal(STAMP_MAX_MS, 2 ** 48 - 1);
});

t.test('round trip on synthetic planes', async (t) => {
  const now = Date.now();
  const times = [0, 1, 255, 2 ** 32, 2 ** 47, STAMP_MAX_MS, now, now + 1, 1_700_000_000_123];
  for (let i = 0; i < 200; i++) times.push(Math.floor(Math.random() * STAMP_MAX_MS));
  for (const [width, height] of [[1920, 1080], [1280, 720], [1024, 768], [640, 360], [128, 48]] as const) {
    const y = noise(width * height, width);
    let exact = 0;
    for (const time of times) {
      drawStamp(y, width, height, time);
      if (readStamp(y, width, height) === time) exact++;
    }
    t.equal(exact, times.length, `${width}x${height}: every time reads back`);
    // The strip is the only thing drawn.
    const fresh = noise(width * height, width);
    const below = stripHeight(height) * width;
    t.equal(Buffer.compare(y.subarray(below), fresh.subarray(below)), 0, `${width}x${height}: below the strip untouched`);
  }
});

t.test('stride larger than width', async (t) => {
  const width = 640;
  const height = 360;
  const stride = 704;
  const y = new Uint8Array(stride * height).fill(77);
  drawStamp(y, width, height, 123_456_789_012, stride);
  t.equal(readStamp(y, width, height, stride), 123_456_789_012);
  for (let row = 0; row < stripHeight(height); row++) {
    t.ok(y.subarray(row * stride + width, (row + 1) * stride).every((v) => v === 77), `padding of row ${row} untouched`);
  }
  t.equal(readStamp(y, width, height), null, 'reading with the wrong stride finds nothing');
});

t.test('null when there is no stamp', async (t) => {
  for (const [width, height] of [[1920, 1080], [640, 360]] as const) {
    t.equal(readStamp(new Uint8Array(width * height), width, height), null, 'all black');
    t.equal(readStamp(new Uint8Array(width * height).fill(255), width, height), null, 'all white');
    t.equal(readStamp(new Uint8Array(width * height).fill(128), width, height), null, 'mid grey');
    for (let seed = 1; seed <= 50; seed++) t.equal(readStamp(noise(width * height, seed), width, height), null, `noise ${seed}`);
  }
  // Binary noise at cell granularity: every cell decisive, so guards and CRC must reject it.
  const width = 640;
  const height = 360;
  let accepted = 0;
  for (let seed = 1; seed <= 2000; seed++) {
    const cells = noise(STAMP_CELLS, seed);
    const y = new Uint8Array(width * height);
    for (let row = 0; row < height; row++) {
      for (let x = 0; x < width; x++) y[row * width + x] = cells[Math.floor((x * STAMP_CELLS) / width)]! & 1 ? 235 : 16;
    }
    if (readStamp(y, width, height) !== null) accepted++;
  }
  t.ok(accepted <= 1, `random black/white cells accepted ${accepted}/2000 times (guard + CRC: ~2^-16 each)`);
});

t.test('null on an unstamped testsrc frame (and its stamped twin reads)', async (t) => {
  for (const src of ['testsrc', 'testsrc2', 'smptehdbars']) {
    const gray = await runFfmpeg(['-f', 'lavfi', '-i', `${src}=size=1280x720:rate=30`, '-frames:v', '3', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1']);
    for (const frame of frames(gray, 1280 * 720)) {
      t.equal(readStamp(frame, 1280, 720), null, `${src}: no stamp`);
      drawStamp(frame, 1280, 720, 42);
      t.equal(readStamp(frame, 1280, 720), 42, `${src}: stamped`);
    }
  }
});

t.test('one flipped cell fails the CRC or guard', async (t) => {
  const width = 1280;
  const height = 720;
  const time = 1_732_000_000_000;
  const clean = new Uint8Array(width * height).fill(100);
  drawStamp(clean, width, height, time);
  for (let cell = 0; cell < STAMP_CELLS; cell++) {
    const y = clean.slice();
    const x0 = Math.floor((cell * width) / STAMP_CELLS);
    const x1 = Math.floor(((cell + 1) * width) / STAMP_CELLS);
    for (let row = 0; row < stripHeight(height); row++) {
      for (let x = x0; x < x1; x++) y[row * width + x] = y[row * width + x]! > 128 ? 16 : 235;
    }
    t.equal(readStamp(y, width, height), null, `cell ${cell} flipped`);
  }
  // A smeared (mid-grey) cell is undecidable rather than guessed.
  const y = clean.slice();
  const x0 = (30 * width) / STAMP_CELLS;
  const x1 = (31 * width) / STAMP_CELLS;
  for (let row = 0; row < stripHeight(height); row++) y.fill(128, row * width + x0, row * width + x1);
  t.equal(readStamp(y, width, height), null, 'grey cell');
});

t.test('bad arguments throw', async (t) => {
  const y = new Uint8Array(640 * 360);
  t.throws(() => drawStamp(y, 640, 360, -1), RangeError);
  t.throws(() => drawStamp(y, 640, 360, 1.5), RangeError);
  t.throws(() => drawStamp(y, 640, 360, STAMP_MAX_MS + 1), RangeError);
  t.throws(() => drawStamp(y, 64, 360, 1), RangeError, 'too narrow');
  t.throws(() => drawStamp(y, 640, 360, 1, 320), RangeError, 'stride < width');
  t.throws(() => readStamp(new Uint8Array(100), 640, 360), RangeError, 'plane too short');
});

/** Stamps testsrc2 frames (a busy, moving picture), encodes them as the console does, decodes at other sizes. */
async function encodeStamped(width: number, height: number, count: number, base: number): Promise<Buffer> {
  const yuv = await runFfmpeg([
    '-f', 'lavfi', '-i', `testsrc2=size=${width}x${height}:rate=30`, '-frames:v', String(count),
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1',
  ]);
  const frameBytes = (width * height * 3) / 2;
  frames(yuv, frameBytes).forEach((frame, i) => drawStamp(frame, width, height, base + i * 33));
  return runFfmpeg([
    '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-framerate', '30', '-i', 'pipe:0',
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0',
    '-b:v', '3000k', '-maxrate', '3000k', '-bufsize', '1500k', '-pix_fmt', 'yuv420p',
    '-f', 'h264', 'pipe:1',
  ], yuv);
}

async function decodeStamps(h264: Buffer, width: number, height: number, filter?: string): Promise<(number | null)[]> {
  const gray = await runFfmpeg([
    '-f', 'h264', '-i', 'pipe:0',
    '-vf', filter ? `${filter},scale=${width}:${height}` : `scale=${width}:${height}`,
    '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1',
  ], h264);
  return frames(gray, width * height).map((frame) => readStamp(frame, width, height));
}

t.test('survives x264 and scaling (real ffmpeg)', async (t) => {
  const count = 60;
  const base = Date.now();
  const expected = Array.from({ length: count }, (_, i) => base + i * 33);

  const hd = await encodeStamped(1920, 1080, count, base);
  t.same(await decodeStamps(hd, 1280, 720), expected, '1920x1080 -> 1280x720');
  t.same(await decodeStamps(hd, 1024, 768), expected, '1920x1080 -> 1024x768 (aspect change)');
  t.same(await decodeStamps(hd, 640, 360), expected, '1920x1080 -> 640x360');
  t.same(await decodeStamps(hd, 1280, 720, 'gblur=sigma=1.5'), expected, '1920x1080 smoothed -> 1280x720');

  const xga = await encodeStamped(1024, 768, count, base);
  t.same(await decodeStamps(xga, 1024, 768), expected, '1024x768 -> 1024x768');
});
