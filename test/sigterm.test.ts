// SIGTERM on the real entry points (bin/origin.ts, bin/edge.ts as their own processes, as
// docker-compose stops them): each exits 0 by itself (bin/cli.ts exits 1 when shutdown takes over
// its 20 s), stops listening, finishes its recording of the live case (origin: VOD playlist ended,
// segments decode; edge: its local copy closed and decodable), leaves no ffmpeg behind, and a
// viewer's parked LL-HLS blocking request is answered, not left hanging.
// Two orders: the origin first while a console is live (host shutdown, origin redeploy), and the
// edge first (`docker compose down` stops dependants first), which tells the origin the case ended;
// the second with the origin on Redis, as docker-compose runs it.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { freePort } from '../lib/net.js';
import { spawnOwned, type ChildExit, type OwnedChild } from '../loadtest/anchors/index.js';
import { SyntheticConsole } from '../loadtest/index.js';
import { TEST_INGEST_KEY, testAuthConfig, testToken } from './helpers/auth.js';
import { ffmpegChildren, processGone } from './helpers/process.js';
import { run } from './helpers/recording.js';
import { startRedis } from './helpers/redis.js';
import { eventually } from './helpers/stack.js';

t.setTimeout(600_000);

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const STREAM = 'sigterm1';
/** Start-up: tsx compiles each tier; on a busy 2-core box that has taken over 30 s (loadtest-stack). */
const START_MS = 90_000;
/** A hang guard only, no speed is asserted: bin/cli.ts itself exits 1 when shutdown takes over 20 s. */
const EXIT_GUARD_MS = 60_000;

interface Tier {
  name: string;
  owned: OwnedChild;
  pid: number;
  output: () => string;
  /** Set once the process has exited. */
  exit: ChildExit | null;
}

async function startTier(name: 'origin' | 'edge', config: unknown, dir: string): Promise<Tier> {
  const file = join(dir, `${name}.json`);
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
  const owned = spawnOwned(process.execPath, ['--import', 'tsx', join(ROOT, `bin/${name}.ts`), '--config', file], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    dieWithParent: true,
  });
  let out = '';
  owned.child.stdout?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  owned.child.stderr?.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-20_000)));
  const tier: Tier = { name, owned, pid: owned.child.pid ?? -1, output: () => out, exit: null };
  void owned.exited.then((exit) => (tier.exit = exit));
  return tier;
}

async function healthy(tier: Tier, url: string): Promise<void> {
  await eventually(async () => {
    if (tier.exit) throw new Error(`${tier.name} exited at start-up (${JSON.stringify(tier.exit)}):\n${tier.output()}`);
    return (await fetch(url).then((r) => r.ok, () => false)) ? true : undefined;
  }, START_MS, `${tier.name} at ${url}`);
}

/** Resolves with the exit, or null if the process is still running after timeoutMs (a hang). */
async function exitOf(tier: Tier, timeoutMs: number): Promise<ChildExit | null> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
  const exit = await Promise.race([tier.owned.exited, guard]);
  clearTimeout(timer);
  return exit;
}

/** One TCP connect: 'accepted', 'refused', or another error code. */
function connectOnce(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve('accepted');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : err.code ?? err.message));
  });
}

/**
 * After SIGTERM: polls the port until a connect is refused. Returns whether it was, and whether
 * the process was still running then (the listener closed first, the rest of shutdown after).
 */
async function refusedAfterSigterm(tier: Tier, port: number): Promise<{ refused: boolean; whileRunning: boolean }> {
  const deadline = Date.now() + EXIT_GUARD_MS;
  while (Date.now() < deadline) {
    const running = tier.exit === null;
    if ((await connectOnce(port)) === 'refused') return { refused: true, whileRunning: running };
    await new Promise((r) => setTimeout(r, 10));
  }
  return { refused: false, whileRunning: false };
}

const trainee = (): Record<string, string> => ({ authorization: `Bearer ${testToken('trainee', STREAM)}` });

/** The origin's media playlist for the stream, or undefined while it is not served. */
async function mediaPlaylist(originUrl: string): Promise<{ url: string; text: string } | undefined> {
  const master = await fetch(`${originUrl}/hls/${STREAM}/index.m3u8`, { headers: trainee() }).catch(() => null);
  if (!master?.ok) return undefined;
  const variant = /^[^#\s].*$/m.exec(await master.text())?.[0];
  if (!variant) return undefined;
  const url = new URL(variant, `${originUrl}/hls/${STREAM}/index.m3u8`).toString();
  const media = await fetch(url, { headers: trainee() }).catch(() => null);
  return media?.ok ? { url, text: await media.text() } : undefined;
}

/** A viewer's request: its status and body, or status 0 if the connection was dropped unanswered. */
function answer(url: string): Promise<{ status: number; body: string; retryAfter: string | null }> {
  return fetch(url, { headers: trainee() }).then(
    async (res) => ({ status: res.status, body: await res.text(), retryAfter: res.headers.get('retry-after') }),
    (err: Error) => ({ status: 0, body: `${err.message} ${String((err as { cause?: unknown }).cause ?? '')}`, retryAfter: null }),
  );
}

const numbers = (text: string, re: RegExp): number[] => [...text.matchAll(re)].map((m) => Number(m[1]));

/** Video frames ffprobe decodes from a file or playlist; throws with ffprobe's stderr if it fails. */
async function decodedFrames(input: string): Promise<number> {
  const args = ['-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', input];
  // A hang guard: ffprobe reads a playlist without ENDLIST as live and waits for more.
  const { stdout, stderr } = await run('ffprobe', args, { timeout: 60_000 });
  if (stderr.trim()) throw new Error(`ffprobe ${input}: ${stderr.trim().slice(0, 500)}`);
  const video = (JSON.parse(stdout) as { streams?: Array<{ codec_name?: string; nb_read_frames?: string }> }).streams?.[0];
  if (video?.codec_name !== 'h264') throw new Error(`ffprobe ${input}: no h264 stream (${stdout.slice(0, 200)})`);
  return Number(video.nb_read_frames ?? 0);
}

interface Running {
  dir: string;
  origin: Tier;
  edge: Tier;
  originPort: number;
  originUrl: string;
  edgeHttpPort: number;
  rtmpPort: number;
  console: SyntheticConsole;
  /** The edge's ffmpeg children while the console was live. */
  encoders: number[];
}

/**
 * Origin and edge processes (the origin on Redis when redisUrl is given), a synthetic console
 * publishing; resolves once the origin serves two LL-HLS segments.
 */
async function startLive(t: Test, options: { redisUrl?: string } = {}): Promise<Running> {
  const dir = mkdtempSync(join(tmpdir(), 'scopecast-sigterm-'));
  const [originPort, edgeHttpPort, rtmpPort] = [await freePort(), await freePort(), await freePort()];
  const originUrl = `http://127.0.0.1:${originPort}`;
  const origin = await startTier('origin', {
    http: { host: '127.0.0.1', port: originPort },
    ingest: { keys: [TEST_INGEST_KEY] },
    // A parked request is released by the shutdown, never by its own timeout, within this test.
    hls: { blockingTimeoutMs: 60_000 },
    webrtc: { enabled: false },
    recordings: { dir: join(dir, 'origin-recordings') },
    auth: testAuthConfig(),
    audit: { file: join(dir, 'origin-audit.jsonl') },
    ...(options.redisUrl ? { redisUrl: options.redisUrl } : {}),
    logLevel: 'warn',
  }, dir);
  let edge: Tier | null = null;
  let source: SyntheticConsole | null = null;
  t.teardown(async () => {
    // Last resort for a failed test: a paused console is resumed so that it can be ended.
    if (source?.pid) process.kill(source.pid, 'SIGCONT');
    await source?.close();
    await edge?.owned.stop(5000);
    await origin.owned.stop(5000);
    rmSync(dir, { recursive: true, force: true });
  });
  await healthy(origin, `${originUrl}/healthz`);
  edge = await startTier('edge', {
    http: { host: '127.0.0.1', port: edgeHttpPort },
    // The frozen console of the first test must not be dropped for idleness while it is frozen.
    rtmp: { host: '127.0.0.1', port: rtmpPort, idleTimeoutMs: 120_000 },
    origin: { url: originUrl, ingestKey: TEST_INGEST_KEY },
    consoles: { streams: { [STREAM]: 'endoscopy-1080p' } },
    webrtc: { enabled: false },
    workDir: join(dir, 'edge'),
    auth: testAuthConfig(),
    audit: { file: join(dir, 'edge-audit.jsonl') },
    logLevel: 'warn',
  }, dir);
  await healthy(edge, `http://127.0.0.1:${edgeHttpPort}/healthz`);
  source = new SyntheticConsole({ url: `rtmp://127.0.0.1:${rtmpPort}/live/${STREAM}?token=${testToken('publisher', STREAM)}`, width: 640, height: 360, bitrateKbps: 800 });
  source.start();
  await eventually(async () => {
    const media = await mediaPlaylist(originUrl);
    return media && media.text.includes('#EXT-X-PART:') && numbers(media.text, /^seg_(\d+)\.m4s$/gm).length >= 2 ? true : undefined;
  }, START_MS, 'two LL-HLS segments at the origin');
  const encoders = await ffmpegChildren(edge.pid);
  return { dir, origin, edge, originPort, originUrl, edgeHttpPort, rtmpPort, console: source, encoders };
}

/** The one recording directory of the stream under root. */
async function onlyRecording(t: Test, root: string): Promise<string | undefined> {
  const ids = (await readdir(root).catch(() => [] as string[])).filter((id) => id.includes(STREAM));
  t.equal(ids.length, 1, `one recording of ${STREAM} in ${root}`);
  return ids[0] === undefined ? undefined : join(root, ids[0]);
}

/** The origin's recording: VOD playlist ended, meta ended, every segment decodes, the playlist decodes. */
async function checkOriginRecording(t: Test, s: Running): Promise<void> {
  const dir = await onlyRecording(t, join(s.dir, 'origin-recordings'));
  if (!dir) return;
  const playlist = await readFile(join(dir, 'playlist.m3u8'), 'utf8');
  t.match(playlist, /#EXT-X-ENDLIST\n$/, 'origin: the VOD playlist ends with #EXT-X-ENDLIST');
  t.equal(playlist.match(/#EXT-X-ENDLIST/g)?.length, 1, 'once');
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { endedAt?: string | null; segments?: number };
  t.ok(meta.endedAt, `origin: meta.json says the case ended (${meta.endedAt})`);
  // Each segment with the init its EXT-X-MAP names, as a player would join them.
  let init = '';
  let segments = 0;
  for (const line of playlist.split('\n')) {
    const map = /^#EXT-X-MAP:URI="([^"]+)"/.exec(line);
    if (map?.[1]) init = map[1];
    if (!/^seg_\d+\.m4s$/.test(line)) continue;
    segments++;
    const joined = join(s.dir, `probe-${line}.mp4`);
    await writeFile(joined, Buffer.concat([await readFile(join(dir, init)), await readFile(join(dir, line))]));
    const frames = await decodedFrames(joined).catch((err: Error) => (t.fail(err.message), 0));
    t.ok(frames > 0, `origin: ${init} + ${line} decodes (${frames} frames)`);
  }
  t.ok(segments >= 2, `origin: ${segments} segments recorded`);
  t.equal(meta.segments, segments, 'meta.json counts every listed segment');
  if (!playlist.endsWith('#EXT-X-ENDLIST\n')) return; // ffprobe would wait for it to go on
  const frames = await decodedFrames(join(dir, 'playlist.m3u8')).catch((err: Error) => (t.fail(err.message), 0));
  t.ok(frames > 0, `origin: the VOD playlist decodes with ffprobe (${frames} frames)`);
}

/** The edge's own copy: meta ended, every file decodes. */
async function checkEdgeRecording(t: Test, s: Running): Promise<void> {
  const dir = await onlyRecording(t, join(s.dir, 'edge', 'recordings'));
  if (!dir) return;
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { endedAt?: string | null; files?: string[]; fragments?: number };
  t.ok(meta.endedAt, `edge: its recording's meta.json says ended (${meta.endedAt})`);
  t.ok((meta.files ?? []).length >= 1 && (meta.fragments ?? 0) > 0, `edge: ${meta.files?.length} file(s), ${meta.fragments} fragments`);
  for (const file of meta.files ?? []) {
    const frames = await decodedFrames(join(dir, file)).catch((err: Error) => (t.fail(err.message), 0));
    t.ok(frames > 0, `edge: ${file} decodes (${frames} frames)`);
  }
}

async function sigtermAndExit(t: Test, tier: Tier, ports: Array<[string, number]>): Promise<void> {
  const sent = Date.now();
  t.ok(process.kill(tier.pid, 'SIGTERM'), `SIGTERM to the ${tier.name} (pid ${tier.pid})`);
  for (const [what, port] of ports) {
    const { refused, whileRunning } = await refusedAfterSigterm(tier, port);
    t.ok(refused, `${tier.name}: ${what} port ${port} refuses new connections after SIGTERM`);
    t.comment(`${tier.name} ${what}: refused ${whileRunning ? 'while the process was still shutting down' : 'once the process had exited'}`);
  }
  const exit = await exitOf(tier, EXIT_GUARD_MS);
  t.comment(`${tier.name} exited ${Date.now() - sent} ms after SIGTERM`);
  t.same(exit, { code: 0, signal: null }, `${tier.name} exits 0 by itself (bin/cli.ts exits 1 past its 20 s grace)${exit?.code === 0 ? '' : `:\n${tier.output()}`}`);
  t.notMatch(tier.output(), /shutdown (failed|took over)/, `${tier.name}: no failed or overlong shutdown logged`);
}

async function noEncodersLeft(t: Test, s: Running): Promise<void> {
  t.ok(s.encoders.length >= 1, `the edge ran ${s.encoders.length} ffmpeg encoder(s) (pids ${s.encoders.join(', ')})`);
  for (const pid of s.encoders) t.ok(await processGone(pid, 10_000), `edge's ffmpeg ${pid} is gone`);
  t.same(await ffmpegChildren(s.edge.pid), [], 'no ffmpeg child of the edge pid');
  t.same(await ffmpegChildren(s.origin.pid), [], 'no ffmpeg child of the origin pid');
}

t.test('origin first, while a console is live: parked LL-HLS request answered, recording ended, exit 0; then the edge', async (t) => {
  const s = await startLive(t);
  const consolePid = s.console.pid;
  t.ok(consolePid, 'the console publishes');
  // The console freezes (SIGSTOP: its RTMP connection stays open, no more frames), so the case is
  // still live at the origin and a blocking request for the next segment stays parked until shutdown.
  process.kill(consolePid!, 'SIGSTOP');
  let last = '';
  await eventually(async () => {
    const media = await mediaPlaylist(s.originUrl);
    const now = media?.text.replace(/^#EXT-X-PRELOAD-HINT.*$/m, '') ?? '';
    const quiet = now !== '' && now === last;
    last = now;
    await new Promise((r) => setTimeout(r, 1000));
    return quiet ? true : undefined;
  }, 60_000, 'no new parts once the console is frozen');
  const media = (await mediaPlaylist(s.originUrl))!;
  const open = Math.max(...numbers(media.text, /^seg_(\d+)\.m4s$/gm)) + 1;
  t.notMatch(media.text, /#EXT-X-ENDLIST/, 'the stream is live at the origin');

  // A blocking playlist reload (hls.js) and a request for the preload-hinted part (Safari, AVPlayer).
  const hinted = /^#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"/m.exec(media.text)?.[1];
  t.ok(hinted, `the playlist hints the next part (${hinted})`);
  const parked = [`${media.url}?_HLS_msn=${open}`, new URL(hinted ?? 'missing', media.url).toString()].map((url) => ({ url, answer: answer(url) }));
  let settled = 0;
  for (const p of parked) void p.answer.then(() => settled++);
  await new Promise((r) => setTimeout(r, 1000));
  t.equal(settled, 0, `a blocking reload for segment ${open} and the hinted part are parked at the origin`);

  await sigtermAndExit(t, s.origin, [['HTTP', s.originPort]]);
  for (const p of parked) {
    const { status, body, retryAfter } = await p.answer;
    // Released by the shutdown (the origin's own 60 s timeout is far off): any HTTP status, not a dropped connection.
    t.ok(status >= 200, `${p.url.slice(p.url.lastIndexOf('/') + 1)}: answered during shutdown with HTTP ${status} ${body.slice(0, 100)}`);
    // Retryable, not "gone": a player asks again (another origin) instead of skipping media.
    t.equal(status, 503, 'a retryable 503');
    t.match(body, /SC_ERR_SHUTTING_DOWN/, 'saying the origin is shutting down');
    t.equal(retryAfter, '1', 'and when to ask again (Retry-After: 1)');
  }
  await checkOriginRecording(t, s);

  // The edge, with its origin already gone: it must not wait on the dead uplink past its grace.
  await sigtermAndExit(t, s.edge, [['RTMP', s.rtmpPort], ['HTTP', s.edgeHttpPort]]);
  await checkEdgeRecording(t, s);
  await noEncodersLeft(t, s);
  process.kill(consolePid!, 'SIGCONT');
  await s.console.close();
});

t.test('edge first (docker compose down order), origin on Redis: the origin hears the case ended, a parked request is answered; then the origin', async (t) => {
  // As docker-compose runs it: the origin's revocations and annotations on Redis, closed last.
  const redis = await startRedis();
  t.teardown(() => redis.stop());
  const s = await startLive(t, { redisUrl: redis.url });
  const media = (await mediaPlaylist(s.originUrl))!;
  // Two segments ahead of the newest complete one: the most a client may ask for, parked ~1-2 s.
  const ahead = Math.max(...numbers(media.text, /^seg_(\d+)\.m4s$/gm)) + 3;
  const parked = answer(`${media.url}?_HLS_msn=${ahead}`);

  await sigtermAndExit(t, s.edge, [['RTMP', s.rtmpPort], ['HTTP', s.edgeHttpPort]]);
  await noEncodersLeft(t, s);
  await checkEdgeRecording(t, s);
  const reply = await parked;
  t.equal(reply.status, 200, `the parked request was answered (${reply.status})`);
  // The edge told the origin: its live playlist is ended (served for hls.endedRetentionSeconds).
  const after = await mediaPlaylist(s.originUrl);
  t.match(after?.text ?? '', /#EXT-X-ENDLIST/, 'the origin marked the stream ended');
  await s.console.close();

  await sigtermAndExit(t, s.origin, [['HTTP', s.originPort]]);
  await checkOriginRecording(t, s);
});
