// An LL-HLS viewer that stops reading (a laptop asleep, a dead 5G link) is disconnected by the
// origin after hls.stalledReaderTimeoutMs instead of holding a socket and buffered segments until
// TCP gives up. Viewers that read, and requests parked on a blocking reload longer than the
// deadline, are not touched.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { scrapeHeaders } from './helpers/auth.js';
import { eventually, publishTestSource, startStack } from './helpers/stack.js';

const STREAM = 'stall1';
const DEADLINE_MS = 1500;

/** Pipelined GETs written at once on a raw socket that is then not read. */
function stalledClient(port: number, paths: readonly string[], token: string): { socket: Socket; drain: () => Promise<{ bytes: number; responses: number }> } {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => {});
  socket.pause();
  socket.once('connect', () => socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`).join('')));
  // Read everything still buffered (ours and the kernel's) until the origin's end of the connection.
  const drain = (): Promise<{ bytes: number; responses: number }> =>
    new Promise((resolve) => {
      let bytes = 0;
      let responses = 0;
      socket.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        responses += chunk.toString('latin1').split('HTTP/1.1 200').length - 1;
      });
      socket.once('close', () => resolve({ bytes, responses }));
      socket.resume();
    });
  return { socket, drain };
}

const stalledCount = async (originUrl: string): Promise<number> => {
  const text = await (await fetch(`${originUrl}/metrics`, { headers: scrapeHeaders() })).text();
  return Number(/^scopecast_hls_stalled_readers_total (\d+)/m.exec(text)?.[1] ?? 0);
};

t.test('a reader that stops is cut off after the deadline; a reading viewer and a long blocking reload are not', async (t) => {
  const stack = await startStack({ originHls: { stalledReaderTimeoutMs: DEADLINE_MS } });
  t.teardown(() => stack.close());
  const source = publishTestSource(stack.rtmpUrl(STREAM));
  t.teardown(() => source.close());
  const headers = stack.auth('trainee', STREAM);
  const base = `${stack.originUrl}/hls/${STREAM}`;
  const rendition = await eventually(async () => {
    const res = await fetch(`${base}/index.m3u8`, { headers });
    return res.ok ? /^(\w+)\/stream\.m3u8$/m.exec(await res.text())?.[1] : undefined;
  }, 30_000, 'the stream is live');
  const segments = await eventually(async () => {
    const text = await (await fetch(`${base}/${rendition}/stream.m3u8`, { headers })).text();
    const list = [...text.matchAll(/^(seg_\d+\.m4s)$/gm)].map((m) => m[1]!);
    return list.length >= 3 ? { list, text } : undefined;
  }, 30_000, 'three complete segments');

  // ~40 segment requests (~15 MB at 3 Mbit/s): far more than the socket buffers on both sides hold.
  const paths = Array.from({ length: 40 }, (_, i) => `/hls/${STREAM}/${rendition}/${segments.list[i % segments.list.length]}`);
  const stalled = stalledClient(Number(new URL(stack.originUrl).port), paths, stack.token('trainee', STREAM));

  // Meanwhile: a blocking reload parked longer than the deadline (three segments past the newest
  // complete one: 2-3 s), and a viewer that keeps reading segments.
  const edgeMsn = Math.max(...[...segments.text.matchAll(/^seg_(\d+)\.m4s$/gm)].map((m) => Number(m[1])));
  const parkedAt = Date.now();
  const parked = fetch(`${base}/${rendition}/stream.m3u8?_HLS_msn=${edgeMsn + 3}`, { headers }).then(async (res) => ({ status: res.status, ms: Date.now() - parkedAt, text: await res.text() }));
  let readerOk = 0;
  let readerFailed = 0;
  const readerEnd = Date.now() + 3 * DEADLINE_MS;
  const reader = (async () => {
    while (Date.now() < readerEnd) {
      const res = await fetch(`${base}/${rendition}/${segments.list.at(-1)}`, { headers }).catch(() => null);
      if (res?.ok && (await res.arrayBuffer()).byteLength > 0) readerOk += 1;
      else readerFailed += 1;
    }
  })();

  await eventually(async () => ((await stalledCount(stack.originUrl)) >= 1 ? true : undefined), 10 * DEADLINE_MS, 'the origin cut the stalled reader off');
  t.comment(`cut off ~${Date.now() - parkedAt} ms after it stopped reading (deadline ${DEADLINE_MS} ms)`);
  const { bytes, responses } = await stalled.drain();
  t.ok(responses < paths.length, `the stalled reader got ${responses} of ${paths.length} responses (${(bytes / 1e6).toFixed(1)} MB) before the origin closed it`);

  const answer = await parked;
  t.equal(answer.status, 200, `the blocking reload parked ${answer.ms} ms (longer than the deadline) is answered`);
  t.ok(answer.ms > DEADLINE_MS, 'it did wait past the deadline: waiting is not stalling');
  t.match(answer.text, new RegExp(`seg_${edgeMsn + 2}\\.m4s`), 'with the segments it waited for');
  await reader;
  t.ok(readerOk > 0 && readerFailed === 0, `the reading viewer was never cut off (${readerOk} segments, ${readerFailed} failures)`);
  t.equal(await stalledCount(stack.originUrl), 1, 'only the stalled reader was counted');
});

t.test('regression: a parked request whose client left arms no deadline, so close() leaves no timer', async (t) => {
  // The client's socket had closed before the parked request was answered: its deadline timer
  // was armed after the socket's 'close' and outlived origin.close() (test/slow-viewer hung).
  const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const stack = await startStack();
  const source = publishTestSource(stack.rtmpUrl('stall2'), { size: '640x360' });
  const headers = stack.auth('trainee', 'stall2');
  const playlist = await eventually(async () => {
    const res = await fetch(`${stack.originUrl}/hls/stall2/main/stream.m3u8`, { headers });
    const text = res.ok ? await res.text() : '';
    return /^seg_\d+\.m4s$/m.test(text) ? text : undefined;
  }, 30_000, 'a complete segment');
  const edgeMsn = Math.max(...[...playlist.matchAll(/^seg_(\d+)\.m4s$/gm)].map((m) => Number(m[1])));
  const gone = new AbortController();
  const parked = fetch(`${stack.originUrl}/hls/stall2/main/stream.m3u8?_HLS_msn=${edgeMsn + 2}`, { headers, signal: gone.signal }).catch(() => 'aborted');
  await new Promise((r) => setTimeout(r, 300));
  gone.abort();
  t.equal(await parked, 'aborted', 'the client left while its request was parked');
  await new Promise((r) => setTimeout(r, 300));
  await source.close();
  await stack.close();
  const after = await eventually(() => (timers() <= before ? timers() : undefined), 5000, `timers back to ${before}`).catch(() => timers());
  t.ok(after <= before, `timers after close: ${after} (before: ${before})`);
});
