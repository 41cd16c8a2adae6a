// A slow viewer must not slow the others down, and the origin must not hold an unbounded amount of
// media for it (issue 7's "slow viewer does not raise others' latency"). One stream, normal LL-HLS
// viewers (blocking reloads like hls.js, latency from PROGRAM-DATE-TIME: loadtest's load viewer)
// and normal WHEP viewers; their latency p50/p95 is measured before and while slow viewers are on:
//   LL-HLS: raw HTTP/1.1 clients that pipeline many part/segment requests and then read 1 KB/s,
//           or nothing at all (the origin's side of their connection is watched: what it holds);
//   WebRTC: WHEP viewers in child processes that are stopped outright (SIGSTOP: their UDP
//           socket is never read) or throttled (stopped 80% of the time: bursts, losses, NACKs).
// Windows with and without the slow viewers alternate (off, on, off, on...), so load from other
// work on the machine falls on both sides alike; the rise is the median over the rounds. The bound
// is the issue's load target (p95 rise <= 300 ms); nothing tighter, since the box is shared.
// Over UDP the origin cannot see that a WHEP receiver stopped reading: its send queue stays short
// either way (asserted), and ICE consent freshness ends such a session after ~30 s (werift's
// CONSENT_TIMEOUT; longer than this test waits).
import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import t from 'tap';
import { Agent } from 'undici';
import { SyntheticConsole } from '../loadtest/index.js';
import { spawnOwned, type OwnedChild } from '../loadtest/anchors/index.js';
import { HlsLoadViewer, type ViewerSink } from '../loadtest/loadtest-viewers.js';
import { WhepLoadViewer } from '../loadtest/loadtest-whep-viewer.js';
import { summarize, type Summary } from '../loadtest/stats.js';
import type { Teardownable } from './helpers/browser.js';
import { processGone } from './helpers/process.js';
import { eventually, startStack, type Stack } from './helpers/stack.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const STREAM = 'slow1';
const HLS_VIEWERS = 4;
const WHEP_VIEWERS = 2;
/** Each measuring window, ms; ROUNDS pairs of (without, with) per kind of slow viewer. */
const WINDOW_MS = 2500;
const ROUNDS = 5;
/** The issue's load target: p95 latency rise of the other viewers. */
const MAX_P95_RISE_MS = 300;
/** Requests a slow LL-HLS client pipelines before it starts (not) reading. */
const PIPELINED_REQUESTS = 150;

/** Latency samples of one group of viewers (sink for loadtest's viewers). */
class Samples {
  readonly values: Array<[atMs: number, latencyMs: number]> = [];
  readonly errors = new Map<string, number>();
  readonly sink: ViewerSink = {
    sample: (atMs, latencyMs) => void this.values.push([atMs, latencyMs]),
    error: (kind) => void this.errors.set(kind, (this.errors.get(kind) ?? 0) + 1),
  };

  /** Latencies sampled inside any of the windows. */
  within(windows: ReadonlyArray<readonly [fromMs: number, toMs: number]>): Summary {
    return summarize(this.values.filter(([at]) => windows.some(([from, to]) => at >= from && at < to)).map(([, ms]) => ms));
  }

  errorsSince(snapshot: ReadonlyMap<string, number>): string {
    const out = [...this.errors].map(([k, n]) => [k, n - (snapshot.get(k) ?? 0)] as const).filter(([, n]) => n > 0);
    return out.length ? out.map(([k, n]) => `${k} x${n}`).join(', ') : 'none';
  }
}

const fmt = (s: Summary): string => `p50 ${Math.round(s.median)} ms, p95 ${Math.round(s.p95)} ms (n=${s.n})`;

/**
 * A hostile LL-HLS client on a raw socket: writes `paths` as pipelined GETs at once, then reads
 * `bytesPerSecond` (0 = never reads). Node then buffers at most its readable high-water mark, so
 * the rest backs up into the kernel and then into the origin.
 */
class SlowHlsClient {
  readonly #socket: Socket;
  #timer: NodeJS.Timeout | null = null;
  received = 0;

  constructor(port: number, paths: readonly string[], token: string, bytesPerSecond: number) {
    this.#socket = connect({ host: '127.0.0.1', port });
    this.#socket.on('error', () => {});
    this.#socket.pause();
    this.#socket.once('connect', () => {
      this.#socket.write(paths.map((p) => `GET ${p} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\n\r\n`).join(''));
    });
    if (bytesPerSecond > 0) {
      const chunk = Math.max(1, Math.round(bytesPerSecond / 4));
      this.#timer = setInterval(() => {
        const data = this.#socket.read(Math.min(chunk, this.#socket.readableLength || chunk)) as Buffer | null;
        if (data) this.received += data.length;
      }, 250);
    }
  }

  /** Our port: the origin's socket for this client has it as remotePort. */
  get localPort(): number | undefined {
    return this.#socket.localPort;
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    this.#socket.destroy();
  }
}

interface SessionInfo {
  id: string;
  stream: string;
  inFlight?: number;
  queuedPackets?: number;
  sentFrames?: number;
  skippedFrames?: number;
}

async function webrtcSessions(stack: Stack): Promise<SessionInfo[]> {
  const res = await fetch(`${stack.originUrl}/api/webrtc/sessions`, { headers: stack.auth('admin') });
  return ((await res.json()) as { sessions: SessionInfo[] }).sessions.filter((s) => s.stream === STREAM);
}

/** A WHEP viewer in its own process (loadtest/whep-viewers.ts), so it can be stopped with a signal. */
async function startChildViewer(t: Teardownable, stack: Stack): Promise<{ owned: OwnedChild; pid: number }> {
  const owned = spawnOwned(process.execPath, ['--import', 'tsx', join(ROOT, 'loadtest/whep-viewers.ts'), `${stack.originUrl}/whep/${STREAM}`, '1'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SCOPECAST_TOKEN: stack.token('expert', STREAM) },
    dieWithParent: true,
  });
  const pid = owned.child.pid!;
  t.teardown(async () => {
    try {
      process.kill(pid, 'SIGCONT'); // a stopped process cannot act on SIGTERM
    } catch {
      // already gone
    }
    await owned.stop(3000);
    await processGone(pid);
  });
  let out: string | null = '';
  owned.child.stderr!.resume();
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('child WHEP viewer not ready after 60 s')), 60_000);
    owned.child.stdout!.on('data', (chunk: Buffer) => {
      if (out === null) return; // ready: the rest ("frames <n>" each second) is not needed
      out += chunk.toString();
      if (/^ready 1$/m.test(out)) {
        out = null;
        clearTimeout(timer);
        resolve();
      }
    });
    void owned.exited.then(({ code }) => reject(new Error(`child WHEP viewer exited (${code}) before it was ready`)));
  });
  return { owned, pid };
}

t.test("slow LL-HLS and WebRTC viewers do not raise the other viewers' latency; the origin holds a bounded amount for them", async (t) => {
  // The slow and stalled readers must stay for the whole run (each window measures them): the
  // origin's stalled-reader deadline (test/stalled-reader) is set beyond it.
  const stack = await startStack({ originHls: { stalledReaderTimeoutMs: 600_000 } });
  t.teardown(() => stack.close());
  const source = new SyntheticConsole({ url: stack.rtmpUrl(STREAM), width: 1280, height: 720 });
  source.start();
  t.teardown(() => source.close());
  await eventually(() => (stack.origin.registry.get(STREAM)?.realtime.track ? true : undefined), 30_000, 'the stream at the origin');
  await eventually(async () => ((await fetch(`${stack.originUrl}/hls/${STREAM}/index.m3u8`, { headers: stack.auth('trainee', STREAM) })).ok ? true : undefined), 20_000, 'LL-HLS');

  // The origin's side of every connection, to see what it holds for a slow client.
  const serverSockets = new Map<number, Socket>();
  const requestsFrom = new Map<number, number>();
  const onConnection = (s: Socket): void => {
    if (s.remotePort !== undefined) serverSockets.set(s.remotePort, s);
  };
  const onRequest = (req: IncomingMessage): void => {
    const port = req.socket.remotePort;
    if (port !== undefined) requestsFrom.set(port, (requestsFrom.get(port) ?? 0) + 1);
  };
  const server = stack.origin.app.server;
  server.on('connection', onConnection);
  server.on('request', onRequest);
  t.teardown(() => {
    server.off('connection', onConnection);
    server.off('request', onRequest);
  });

  const hls = new Samples();
  const whep = new Samples();
  const agent = new Agent({ connections: 64, pipelining: 1 });
  t.teardown(() => agent.close());
  const normal: Array<HlsLoadViewer | WhepLoadViewer> = [];
  t.teardown(() => Promise.all(normal.map((v) => v.close())));
  for (let i = 0; i < HLS_VIEWERS; i++) normal.push(new HlsLoadViewer(`${stack.originUrl}/hls/${STREAM}/index.m3u8`, { dispatcher: agent, sink: hls.sink, token: stack.token('trainee', STREAM) }));
  for (let i = 0; i < WHEP_VIEWERS; i++) normal.push(new WhepLoadViewer(`${stack.originUrl}/whep/${STREAM}`, { sink: whep.sink, token: stack.token('expert', STREAM), interfaceAddress: '127.0.0.1' }));
  for (const v of normal) v.start();
  await eventually(() => (normal.every((v) => v.hasMedia) ? true : undefined), 30_000, 'every normal viewer playing').catch((err: Error) => {
    throw new Error(`${err.message} (LL-HLS errors: ${hls.errorsSince(new Map())}; WebRTC errors: ${whep.errorsSince(new Map())})`);
  });
  await sleep(3000); // past the start backlog and the first sender reports

  /**
   * ROUNDS x (a window without, a window with the slow viewers). The rise is the median over the
   * rounds of (p95 with - p95 without): other work on the machine (a compile, another test's
   * encoder) stalls everything for a second or two now and then, and that lands in one or two
   * rounds, not in the median. The pooled figures are printed as well.
   */
  const alternate = async (phase: string, slowOn: () => Promise<void> | void, slowOff: () => Promise<void> | void): Promise<void> => {
    const rounds: Array<{ off: [number, number]; on: [number, number] }> = [];
    const [hlsErrors, whepErrors] = [new Map(hls.errors), new Map(whep.errors)];
    for (let round = 0; round < ROUNDS; round++) {
      const offFrom = Date.now();
      await sleep(WINDOW_MS);
      const off: [number, number] = [offFrom, Date.now()];
      await slowOn();
      const onFrom = Date.now();
      await sleep(WINDOW_MS);
      rounds.push({ off, on: [onFrom, Date.now()] });
      await slowOff();
    }
    const median = (values: number[]): number => summarize(values).median;
    for (const [path, samples, perSecond, viewers] of [['LL-HLS', hls, 1, HLS_VIEWERS], ['WebRTC', whep, 10, WHEP_VIEWERS]] as const) {
      const off = samples.within(rounds.map((r) => r.off));
      const on = samples.within(rounds.map((r) => r.on));
      const rises = rounds.map((r) => samples.within([r.on]).p95 - samples.within([r.off]).p95);
      const rise = median(rises);
      t.comment(`${phase}: ${path} without ${fmt(off)} | with ${fmt(on)} | p95 rise per round ${rises.map((x) => Math.round(x)).join(', ')} ms`);
      // Parts come at 5/s and frames at 30/s: far fewer means the normal viewers were starved.
      const least = (viewers * ROUNDS * WINDOW_MS * perSecond) / 1000;
      t.ok(on.n > least, `${phase}: normal ${path} viewers kept getting ${path === 'LL-HLS' ? 'parts' : 'frames'} (${on.n})`);
      t.ok(rise < MAX_P95_RISE_MS, `${phase}: normal ${path} viewers' p95 rise (median of ${ROUNDS} rounds) ${Math.round(rise)} ms < ${MAX_P95_RISE_MS} ms`);
    }
    t.comment(`${phase}: normal viewers' errors: LL-HLS ${hls.errorsSince(hlsErrors)}; WebRTC ${whep.errorsSince(whepErrors)}`);
  };

  // (a) LL-HLS: in each "with" window, two fresh clients pipeline every part and segment of the
  // window (over and over, PIPELINED_REQUESTS in all), then read 1 KB/s, or nothing.
  const port = Number(new URL(stack.originUrl).port);
  const token = stack.token('trainee', STREAM);
  let slowHls: SlowHlsClient[] = [];
  let watch: NodeJS.Timeout | null = null;
  const held = [0, 0];
  const received = [0, 0];
  const requests = [0, 0];
  t.teardown(() => {
    if (watch) clearInterval(watch);
    slowHls.forEach((c) => c.close());
  });
  await alternate(
    'slow LL-HLS',
    async () => {
      const playlist = await (await fetch(`${stack.originUrl}/hls/${STREAM}/main/stream.m3u8`, { headers: stack.auth('trainee', STREAM) })).text();
      const media = [...playlist.matchAll(/(?:URI="|^)((?:part|seg)_\d+\.m4s)/gm)].map((m) => `/hls/${STREAM}/main/${m[1]}`);
      const paths = Array.from({ length: PIPELINED_REQUESTS }, (_, i) => media[i % media.length]!);
      slowHls = [new SlowHlsClient(port, paths, token, 1024), new SlowHlsClient(port, paths, token, 0)];
      watch = setInterval(() => {
        slowHls.forEach((c, i) => {
          const s = c.localPort === undefined ? undefined : serverSockets.get(c.localPort);
          if (s) held[i] = Math.max(held[i]!, s.writableLength);
        });
      }, 100);
    },
    () => {
      if (watch) clearInterval(watch);
      slowHls.forEach((c, i) => {
        received[i] = Math.max(received[i]!, c.received);
        requests[i] = Math.max(requests[i]!, requestsFrom.get(c.localPort ?? -1) ?? 0);
        c.close();
      });
      slowHls = [];
    },
  );
  t.comment(`slow LL-HLS clients (1 KB/s, stalled): received at most ${received.join(' / ')} bytes per window; the origin took at most ${requests.join(' / ')} of their ${PIPELINED_REQUESTS} pipelined requests and held at most ${held.join(' / ')} bytes unsent in their sockets`);
  t.ok(received[0]! > 0 && received[0]! < 8 * 1024, `the 1 KB/s reader really read slowly (${received[0]} bytes in ${WINDOW_MS} ms)`);
  t.equal(received[1], 0, 'the stalled reader read nothing');
  // Bounded: the origin's unsent bytes per slow client stay around one response (a segment is
  // ~0.5 MB at 3 Mbit/s); the kernel's socket buffers hold the rest of what TCP accepted.
  for (const [i, bytes] of held.entries()) t.ok(bytes < 4 * 1024 * 1024, `slow LL-HLS client ${i}: at most ${bytes} bytes waiting at the origin (< 4 MiB)`);

  // (b) WebRTC: two more WHEP viewers in child processes; in each "with" window one is stopped
  // outright and the other throttled (runs 100 ms of every 500 ms); between windows both run.
  const before = new Set((await webrtcSessions(stack)).map((s) => s.id));
  const stopped = await startChildViewer(t, stack);
  const throttled = await startChildViewer(t, stack);
  // Both connected and getting frames before anything is measured.
  const slowIds = await eventually(async () => {
    const fresh = (await webrtcSessions(stack)).filter((s) => !before.has(s.id));
    return fresh.length === 2 && fresh.every((s) => (s.sentFrames ?? 0) > 30) ? fresh.map((s) => s.id) : undefined;
  }, 20_000, "the two slow viewers' sessions sending");
  const limit = stack.origin.config.webrtc.viewerQueuePackets;
  const peak = new Map<string, { queued: number; sent: number; skipped: number; gone: boolean }>(slowIds.map((id) => [id, { queued: 0, sent: 0, skipped: 0, gone: false }]));
  let polling = true;
  const poll = (async () => {
    while (polling) {
      const sessions = await webrtcSessions(stack).catch(() => null);
      for (const [id, p] of sessions ? peak : []) {
        const s = sessions!.find((x) => x.id === id);
        if (!s) {
          p.gone = true;
          continue;
        }
        p.queued = Math.max(p.queued, (s.inFlight ?? 0) + (s.queuedPackets ?? 0));
        p.sent = s.sentFrames ?? p.sent;
        p.skipped = s.skippedFrames ?? p.skipped;
      }
      await sleep(200);
    }
  })();
  let throttling: Promise<void> | null = null;
  let throttleOn = false;
  const signal = (pid: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(pid, sig);
    } catch {
      // exited: its teardown reports nothing more to do
    }
  };
  const stopThrottle = async (): Promise<void> => {
    throttleOn = false;
    await throttling;
    signal(stopped.pid, 'SIGCONT');
  };
  t.teardown(async () => {
    polling = false;
    await poll;
    await stopThrottle();
  });
  await alternate(
    'slow WebRTC',
    () => {
      signal(stopped.pid, 'SIGSTOP');
      throttleOn = true;
      throttling = (async () => {
        while (throttleOn) {
          signal(throttled.pid, 'SIGSTOP');
          await sleep(400);
          signal(throttled.pid, 'SIGCONT');
          await sleep(100);
        }
      })();
    },
    stopThrottle,
  );
  polling = false;
  await poll;
  const others = (await webrtcSessions(stack)).filter((s) => before.has(s.id));
  t.comment(`normal WebRTC viewers, for comparison: ${others.map((s) => `${s.sentFrames ?? '?'} frames sent, ${s.skippedFrames ?? '?'} skipped`).join('; ')}`);
  for (const [name, id] of [['stopped', slowIds[0]!], ['throttled', slowIds[1]!]] as const) {
    const p = peak.get(id)!;
    t.comment(`${name} WebRTC viewer: at most ${p.queued} packets queued or in flight at the origin (limit ${limit}); ${p.sent} frames sent, ${p.skipped} skipped; ${p.gone ? 'disconnected' : 'still connected'}`);
    t.ok(p.queued <= limit, `${name} WebRTC viewer: the origin's queue for it stays within viewerQueuePackets (${p.queued} <= ${limit})`);
  }
});
