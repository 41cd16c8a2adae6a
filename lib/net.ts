import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { readFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { ScopecastError } from './errors.js';

/** A port the OS says is free right now (bind port 0, read it, release it). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Throws a config error if host:port cannot be bound. node-media-server calls process.exit(1)
 * on a listen error, so the edge checks first and fails with a clear message instead.
 */
export function assertPortFree(host: string, port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new ScopecastError('SC_ERR_CONFIG_INVALID', `${what} cannot listen on ${host}:${port}: ${err.code ?? err.message}`)),
    );
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/** Resolves once a TCP connect to host:port succeeds, or rejects after timeoutMs. */
export async function waitForPort(host: string, port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host, port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function bindUdp(host: string, port: number): Promise<UdpSocket | null> {
  return new Promise((resolve) => {
    const socket = createSocket({ type: 'udp4', reuseAddr: false });
    socket.once('error', () => {
      socket.close();
      resolve(null);
    });
    socket.bind(port, host, () => resolve(socket));
  });
}

/**
 * An even UDP port p with p + 1 also free (RTP + RTCP), on host. The ports are released before
 * this resolves: hand them to a child at once (if it loses a race for them, it fails to bind).
 */
export async function freeUdpPortPair(host = '127.0.0.1'): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const first = await bindUdp(host, 0);
    if (!first) break;
    const port = first.address().port;
    const second = port % 2 === 0 && port < 65535 ? await bindUdp(host, port + 1) : null;
    await Promise.all([first, second].map((s) => (s ? new Promise<void>((r) => s.close(() => r())) : undefined)));
    if (second) return port;
  }
  throw new Error(`no free UDP port pair on ${host}`);
}

/**
 * Whether every given UDP port has a socket bound to it on this machine (any process), from
 * /proc/net/udp. null where that table is not readable (not Linux): the caller must guess.
 */
export async function udpPortsBound(ports: readonly number[]): Promise<boolean | null> {
  let table: string;
  try {
    table = await readFile('/proc/net/udp', 'utf8');
  } catch {
    return null;
  }
  const bound = new Set<number>();
  for (const line of table.split('\n').slice(1)) {
    const local = line.trim().split(/\s+/)[1];
    const hex = local?.split(':')[1];
    if (hex) bound.add(Number.parseInt(hex, 16));
  }
  return ports.every((p) => bound.has(p));
}
