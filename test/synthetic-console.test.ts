import t from 'tap';
import { FfmpegProcess, type FfmpegExit } from '../codecs/ffmpeg/index.js';
import { drawStamp } from '../codecs/barcode/index.js';
import { SyntheticConsole, StampReader, syntheticConsoleArgs, stampReaderArgs, type StampSample } from '../loadtest/index.js';
import { processGone } from './helpers/process.js';
import { freePort } from '../lib/net.js';

function valueAfter(args: readonly string[], flag: string, from = 0): string | undefined {
  const i = args.indexOf(flag, from);
  return i === -1 ? undefined : args[i + 1];
}

t.test('syntheticConsoleArgs: raw frames on stdin first, live tone second, FLV last', async (t) => {
  const args = syntheticConsoleArgs({ url: 'rtmp://127.0.0.1:1935/live/demo' });
  const video = args.indexOf('pipe:0');
  const audio = args.indexOf('sine=frequency=440:sample_rate=48000');
  t.ok(video > 0 && audio > video, 'video is input 0, audio input 1');
  t.equal(valueAfter(args, '-s'), '1920x1080');
  t.equal(valueAfter(args, '-framerate'), '30');
  t.equal(valueAfter(args, '-pix_fmt'), 'yuv420p');
  t.equal(args[audio - 4], '-re', '-re applies to the tone only');
  t.ok(args.indexOf('-re') > video, 'our pipe is not rate-limited by ffmpeg');
  t.equal(valueAfter(args, '-c:v'), 'libx264');
  t.equal(valueAfter(args, '-tune'), 'zerolatency');
  t.equal(valueAfter(args, '-g'), '30');
  t.equal(valueAfter(args, '-bf'), '0');
  t.equal(valueAfter(args, '-b:v'), '4000k');
  t.equal(valueAfter(args, '-c:a'), 'aac');
  t.same(args.slice(-3), ['-f', 'flv', 'rtmp://127.0.0.1:1935/live/demo']);

  const quiet = syntheticConsoleArgs({ url: 'rtmp://h/live/x', width: 640, height: 360, fps: 25, audio: false, bitrateKbps: 1500 });
  t.notOk(quiet.includes('lavfi'), 'no tone');
  t.notOk(quiet.includes('-c:a'));
  t.notOk(quiet.includes('-itsoffset'));
  t.equal(valueAfter(quiet, '-s'), '640x360');
  t.equal(valueAfter(quiet, '-g'), '25');
  t.equal(valueAfter(quiet, '-b:v'), '1500k');
  t.same(syntheticConsoleArgs({ url: 'rtmp://h/live/x' }), syntheticConsoleArgs({ url: 'rtmp://h/live/x' }), 'pure');
});

t.test('console options are validated', async (t) => {
  t.throws(() => syntheticConsoleArgs({ url: 'http://h/x' }), RangeError);
  t.throws(() => new SyntheticConsole({ url: 'rtmp://h/live/x', width: 641 }), RangeError);
  t.throws(() => new SyntheticConsole({ url: 'rtmp://h/live/x', fps: 0 }), RangeError);
  t.throws(() => new SyntheticConsole({ url: 'rtmp://h/live/x', bitrateKbps: 10 }), RangeError);
});

t.test('stampReaderArgs: low-delay decode to grey frames of the given size', async (t) => {
  const url = stampReaderArgs({ width: 640, height: 360, input: { kind: 'url', url: 'rtmp://127.0.0.1:1/live/x', listen: true } });
  t.equal(valueAfter(url, '-listen'), '1');
  t.ok(url.indexOf('-listen') < url.indexOf('-i'), 'listen is an input option');
  t.equal(valueAfter(url, '-fflags'), 'nobuffer');
  t.equal(valueAfter(url, '-vf'), 'scale=640:360');
  t.same(url.slice(-5), ['-pix_fmt', 'gray', '-flush_packets', '1', 'pipe:1']);
  const stdin = stampReaderArgs({ width: 320, height: 180, input: { kind: 'stdin' } });
  t.notOk(stdin.includes('-listen'));
  t.equal(valueAfter(stdin, '-i'), 'pipe:0');
  t.notOk(stdin.includes('nobuffer'), 'fMP4 on stdin keeps the frames read while probing');
  t.throws(() => stampReaderArgs({ width: 10, height: 10, input: { kind: 'stdin' } }), RangeError);
});

t.test('console -> RTMP (ffmpeg listening) -> stamp reader: increasing stamps, plausible latency', async (t) => {
  const url = `rtmp://127.0.0.1:${await freePort()}/live/test`;
  const reader = new StampReader({ width: 640, height: 360, input: { kind: 'url', url, listen: true } });
  const samples: StampSample[] = [];
  let unreadable = 0;
  let readerDied: FfmpegExit | null = null;
  reader.on('sample', (s) => samples.push(s));
  reader.on('unreadable', () => { unreadable++; });
  reader.on('died', (exit) => { readerDied = exit; });
  reader.start();
  const readerPid = await waitForPid(() => reader.pid);

  const console = new SyntheticConsole({ url, width: 640, height: 360, fps: 30 });
  let consoleDied: FfmpegExit | null = null;
  let started = 0;
  let closed = 0;
  console.on('died', (exit) => { consoleDied = exit; });
  console.on('started', () => { started++; });
  console.on('closed', () => { closed++; });
  // The listener needs a moment to bind; a refused publish would show up as `died`.
  await new Promise((resolve) => setTimeout(resolve, 300));
  console.start();
  console.start(); // idempotent
  const consolePid = await waitForPid(() => console.pid);

  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline && samples.length < 60 && !consoleDied && !readerDied) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  t.equal(consoleDied, null, 'console ffmpeg still running');
  t.equal(readerDied, null, 'reader ffmpeg still running');
  t.equal(started, 1);
  t.ok(samples.length >= 60, `${samples.length} stamped frames read back`);
  t.ok(console.framesSent >= samples.length, `${console.framesSent} sent, ${console.framesSkipped} skipped`);
  t.ok(unreadable <= samples.length / 10, `${unreadable} unreadable frames`);
  let increasing = true;
  for (let i = 1; i < samples.length; i++) if (samples[i]!.stampMs <= samples[i - 1]!.stampMs) increasing = false;
  t.ok(increasing, 'stamps strictly increase');
  const latencies = samples.map((s) => s.latencyMs).sort((a, b) => a - b);
  t.ok(latencies.every((ms) => ms > 0 && ms < 5000), `latency within (0, 5000) ms; median ${latencies[latencies.length >> 1]} ms`);
  for (const s of samples) if (s.latencyMs !== s.decodedAtMs - s.stampMs) t.fail('latencyMs = decodedAtMs - stampMs');

  await Promise.all([console.close(), reader.close()]);
  await console.close();
  await reader.close();
  t.equal(closed, 1, 'closed emitted once');
  t.ok(await processGone(consolePid), 'console ffmpeg exited');
  t.ok(await processGone(readerPid), 'reader ffmpeg exited');
  t.throws(() => console.start(), { code: 'SC_ERR_INVALID_STATE' });
  t.throws(() => reader.start(), { code: 'SC_ERR_INVALID_STATE' });
});

t.test('console reports died when nobody accepts the publish, and close() still resolves', async (t) => {
  const console = new SyntheticConsole({ url: `rtmp://127.0.0.1:${await freePort()}/live/none`, width: 320, height: 180, audio: false });
  const died = new Promise<FfmpegExit>((resolve) => console.once('died', resolve));
  console.start();
  const exit = await died;
  t.not(exit.code, 0);
  t.match(exit.stderrTail, /refused|Cannot open|error/i);
  await console.close();
  t.equal(console.pid, undefined);
});

t.test('stamp reader over fMP4 written to stdin', async (t) => {
  const width = 640;
  const height = 360;
  const count = 90;
  const frameBytes = (width * height * 3) / 2;
  const raw = Buffer.alloc(frameBytes * count, 90);
  for (let i = 0; i < count; i++) drawStamp(raw.subarray(i * frameBytes, (i + 1) * frameBytes), width, height, 1_000_000 + i * 33);
  const encoder = new FfmpegProcess({
    args: [
      '-hide_banner', '-nostdin', '-loglevel', 'error',
      '-f', 'rawvideo', '-pix_fmt', 'yuv420p', '-s', `${width}x${height}`, '-framerate', '30', '-i', 'pipe:0',
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '15', '-bf', '0', '-pix_fmt', 'yuv420p',
      '-movflags', '+empty_moov+default_base_moof+frag_keyframe', '-f', 'mp4', 'pipe:1',
    ],
    stdin: 'pipe',
  });
  const reader = new StampReader({ width: 320, height: 180, input: { kind: 'stdin' } });
  t.equal(reader.stdin, null, 'no stdin before start');
  const samples: StampSample[] = [];
  reader.on('sample', (s) => samples.push(s));
  const readerDone = new Promise<FfmpegExit>((resolve) => reader.once('died', resolve));
  reader.start();
  const sink = reader.stdin;
  if (!sink) throw new Error('reader has no stdin');
  encoder.stdout?.pipe(sink);
  encoder.stdin?.end(raw);
  const exit = await readerDone;
  t.equal(exit.code, 0, 'reader ends with its input');
  await Promise.all([encoder.close(), reader.close()]);
  t.same(samples.map((s) => s.stampMs), Array.from({ length: count }, (_, i) => 1_000_000 + i * 33), 'every frame, every stamp exact, in order');
  t.same(samples.map((s) => s.frameIndex), Array.from({ length: count }, (_, i) => i));
});

async function waitForPid(get: () => number | undefined): Promise<number> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const pid = get();
    if (pid !== undefined) return pid;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('child never started');
}
