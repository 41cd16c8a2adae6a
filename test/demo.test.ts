// The README's demo command really starts edge + origin + synthetic console, serves the pages,
// and shuts down cleanly on SIGTERM with no ffmpeg left behind. The demo is secured like any
// deployment: each printed link carries its own token, and the test uses those tokens.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { freePort } from '../lib/net.js';
import { ffmpegChildren, processGone } from './helpers/process.js';
import { eventually } from './helpers/stack.js';

/** A printed link's token and its (unverified) claims. */
function linkToken(link: URL): { token: string; role: unknown; stream: unknown } {
  const token = link.searchParams.get('token') ?? '';
  const claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8') || '{}') as { role?: unknown; stream?: unknown };
  return { token, role: claims.role, stream: claims.stream };
}

t.test('demo: stream playable at the printed URL, clean SIGTERM', async (t) => {
  const [originPort, edgePort, rtmpPort] = [await freePort(), await freePort(), await freePort()];
  const root = fileURLToPath(new URL('..', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/demo.ts', '--origin-port', String(originPort), '--edge-port', String(edgePort), '--rtmp-port', String(rtmpPort)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const watchUrl = new URL(await eventually(() => /trainee page\s+(\S+)/.exec(output)?.[1], 20_000, 'the printed trainee URL'));
  t.equal(`${watchUrl.origin}${watchUrl.pathname}`, `http://127.0.0.1:${originPort}/watch/demo`);
  const trainee = linkToken(watchUrl);
  t.match(trainee, { role: 'trainee', stream: 'demo' }, 'the trainee link carries a trainee token for the stream');
  const page = await fetch(watchUrl);
  t.equal(page.status, 200);
  t.match(await page.text(), /scopecast/);
  const hls = `http://127.0.0.1:${originPort}/hls/demo/main/stream.m3u8`;
  t.equal((await fetch(hls)).status, 401, 'the demo is secured: no token, no video');
  const playlist = await eventually(async () => {
    const res = await fetch(hls, { headers: { authorization: `Bearer ${trainee.token}` } });
    const text = res.ok ? await res.text() : '';
    return text.includes('#EXT-X-PART:') ? text : undefined;
  }, 30_000, 'LL-HLS parts from the synthetic console');
  t.match(playlist, /#EXT-X-PRELOAD-HINT/);
  const statusUrl = new URL(/latency status\s+(\S+)/.exec(output)?.[1] ?? 'http://-');
  t.equal(`${statusUrl.origin}${statusUrl.pathname}`, `http://127.0.0.1:${originPort}/status`, 'the status page URL is printed');
  const admin = linkToken(statusUrl);
  t.match(admin, { role: 'admin' }, 'the status link carries an admin token');
  const adminHeaders = { authorization: `Bearer ${admin.token}` };
  t.equal((await fetch(statusUrl)).status, 200);
  // The edge's control link reports its encoder to the origin.
  const demoStatus = await eventually(async () => {
    const body = (await (await fetch(`http://127.0.0.1:${originPort}/api/status`, { headers: adminHeaders })).json()) as { streams: Array<{ stream: string; ingest: { encoderSpeed: number | null; fps: number } }> };
    const s = body.streams.find((x) => x.stream === 'demo');
    return s && s.ingest.encoderSpeed !== null && s.ingest.fps > 0 ? s : undefined;
  }, 20_000, 'encoder stats from the edge on /api/status');
  t.ok(demoStatus.ingest.encoderSpeed! > 0, `encoder speed ${demoStatus.ingest.encoderSpeed}x, ${demoStatus.ingest.fps.toFixed(1)} fps arriving`);
  // The edge verifies tokens with the same key: the admin link's token reads its API too.
  const edgeStreams = (await (await fetch(`http://127.0.0.1:${edgePort}/api/streams`, { headers: adminHeaders })).json()) as { streams: unknown[] };
  t.equal(edgeStreams.streams.length, 1);
  const demoFfmpegs = async (): Promise<number[]> => ffmpegChildren(child.pid);
  const before = await demoFfmpegs();
  t.equal(before.length, 2, 'console publisher + edge encoder run as children of the demo');
  child.kill('SIGTERM');
  const code = await exited;
  t.equal(code, 0, 'demo exits 0 on SIGTERM');
  if (code !== 0) t.comment(output.slice(-1000));
  for (const pid of before) t.ok(await processGone(pid, 5000), `ffmpeg ${pid} ended`);
});
