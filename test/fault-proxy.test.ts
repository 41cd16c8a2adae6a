// The TCP fault proxy against a real echo server: it forwards, delays, holds and releases,
// resets and refuses as told, and close() leaves nothing open.
import { createServer, connect, type Socket } from 'node:net';
import t from 'tap';
import { FaultProxy } from '../loadtest/fault-proxy.js';
import { eventually } from './helpers/stack.js';

async function echoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  return { port, close: () => new Promise((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }) };
}

async function client(port: number): Promise<{ socket: Socket; received: () => string; closed: Promise<string> }> {
  const socket = connect(port, '127.0.0.1');
  let data = '';
  socket.on('data', (c) => (data += c.toString()));
  const closed = new Promise<string>((resolve) => {
    socket.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    socket.on('close', () => resolve('closed'));
  });
  await new Promise<void>((r) => socket.once('connect', () => r()));
  return { socket, received: () => data, closed };
}

t.test('forward, latency, blackhole and release, reset, refuse', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const proxy = new FaultProxy({ host: '127.0.0.1', port: echo.port });
  t.teardown(() => proxy.close());
  const port = await proxy.listen();

  const c = await client(port);
  c.socket.write('hello');
  await eventually(() => (c.received() === 'hello' ? true : undefined), 2000, 'echo through the proxy');

  proxy.set({ latencyMs: 150 });
  const sent = Date.now();
  c.socket.write('slow');
  await eventually(() => (c.received().endsWith('slow') ? true : undefined), 3000, 'delayed echo');
  t.ok(Date.now() - sent >= 300, `latency added both ways (${Date.now() - sent} ms for a round trip through 2 x 150 ms)`);
  proxy.set({ latencyMs: 0 });

  proxy.set({ blackhole: true });
  c.socket.write('held');
  await new Promise((r) => setTimeout(r, 300));
  t.notOk(c.received().endsWith('held'), 'nothing passes a blackhole');
  t.notOk(c.socket.destroyed, 'and the connection stays open, like a dead radio link');
  proxy.set({ blackhole: false });
  await eventually(() => (c.received().endsWith('held') ? true : undefined), 2000, 'held data flows after the outage');

  proxy.resetAll();
  t.match(await c.closed, /ECONNRESET|closed/, 'reset drops the connection');

  proxy.set({ refuse: true });
  const refused = connect(port, '127.0.0.1');
  const outcome = await new Promise<string>((resolve) => {
    refused.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    refused.on('close', () => resolve('closed'));
  });
  t.match(outcome, /ECONNRESET|closed/, 'new connections refused');
  proxy.set({ refuse: false });
  const back = await client(port);
  back.socket.write('again');
  await eventually(() => (back.received() === 'again' ? true : undefined), 2000, 'works again');
  back.socket.destroy();
  await proxy.close();
  await proxy.close();
  t.pass('close() twice');
});

t.test('bandwidth cap: the transfer takes as long as the cap says', async (t) => {
  const echo = await echoServer();
  t.teardown(() => echo.close());
  const proxy = new FaultProxy({ host: '127.0.0.1', port: echo.port });
  t.teardown(() => proxy.close());
  const port = await proxy.listen();
  proxy.set({ bandwidthBps: 200_000 });
  const c = await client(port);
  const payload = 'x'.repeat(100_000);
  const started = Date.now();
  c.socket.write(payload);
  await eventually(() => (c.received().length >= payload.length ? true : undefined), 10_000, 'the echo');
  // 100 kB each way at 200 kB/s: at least ~0.5 s one way (chunks pipeline across directions).
  t.ok(Date.now() - started >= 400, `capped transfer took ${Date.now() - started} ms`);
  c.socket.destroy();
});
