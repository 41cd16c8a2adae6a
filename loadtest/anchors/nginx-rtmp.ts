// Anchor: nginx + nginx-rtmp-module publishing HLS with 1 s fragments, the classic self-hosted
// live setup. Our own nginx, from a generated config in a temp dir, on free 127.0.0.1 ports,
// in the foreground with master_process off (one process: nothing left behind when it ends).
// The system nginx (config, service, logs, pid) is never touched.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, waitForPort } from '../../lib/net.js';
import { sleep } from '../measure.js';
import { spawnOwned, type OwnedChild } from './child.js';
import { parseHlsPlaylist } from './hls-live-edge.js';
import { ensureNginxRtmp } from './nginx-install.js';

export interface NginxRtmpConfOptions {
  /** Prefix directory: config, pid, logs, temp files and HLS output all live here. */
  dir: string;
  rtmpPort: number;
  httpPort: number;
  modulePath: string;
  /** hls_fragment, s. */
  fragmentS: number;
  /** hls_playlist_length, s. */
  playlistS: number;
}

const q = (path: string): string => JSON.stringify(path);

/** Pure: the whole nginx.conf. Every path nginx would default to a system location is set here. */
export function nginxRtmpConf(o: NginxRtmpConfOptions): string {
  const d = (name: string): string => q(join(o.dir, name));
  return `load_module ${q(o.modulePath)};
master_process off;
worker_processes 1;
pid ${d('nginx.pid')};
lock_file ${d('nginx.lock')};
error_log ${d('error.log')} warn;
events { worker_connections 256; }
rtmp {
  server {
    listen 127.0.0.1:${o.rtmpPort};
    chunk_size 4096;
    application live {
      live on;
      record off;
      hls on;
      hls_path ${d('hls')};
      hls_fragment ${o.fragmentS}s;
      hls_playlist_length ${o.playlistS}s;
    }
  }
}
http {
  access_log off;
  client_body_temp_path ${d('tmp/body')};
  proxy_temp_path ${d('tmp/proxy')};
  fastcgi_temp_path ${d('tmp/fastcgi')};
  uwsgi_temp_path ${d('tmp/uwsgi')};
  scgi_temp_path ${d('tmp/scgi')};
  types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
  server {
    listen 127.0.0.1:${o.httpPort};
    location /hls/ {
      alias ${q(`${join(o.dir, 'hls')}/`)};
      add_header Cache-Control no-cache;
    }
  }
}
`;
}

export class NginxRtmpAnchor {
  readonly #stream: string;
  #dir: string | null = null;
  #child: OwnedChild | null = null;
  #closing = false;
  #ports: { rtmp: number; http: number } | null = null;

  constructor(stream: string) {
    this.#stream = stream;
  }

  get publishUrl(): string {
    if (!this.#ports) throw new Error('nginx anchor not started');
    return `rtmp://127.0.0.1:${this.#ports.rtmp}/live/${this.#stream}`;
  }

  get playlistUrl(): string {
    if (!this.#ports) throw new Error('nginx anchor not started');
    return `http://127.0.0.1:${this.#ports.http}/hls/${this.#stream}.m3u8`;
  }

  /** Installs nginx + the module if missing, writes the config, starts nginx, waits for both ports. */
  async start(options: { fragmentS: number; playlistS: number; signal?: AbortSignal }): Promise<void> {
    const { binary, module } = await ensureNginxRtmp(options.signal);
    options.signal?.throwIfAborted();
    const dir = mkdtempSync(join(tmpdir(), 'scopecast-nginx-'));
    this.#dir = dir;
    mkdirSync(join(dir, 'tmp'));
    mkdirSync(join(dir, 'hls'));
    const ports = { rtmp: await freePort(), http: await freePort() };
    this.#ports = ports;
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxRtmpConf({ dir, rtmpPort: ports.rtmp, httpPort: ports.http, modulePath: module, fragmentS: options.fragmentS, playlistS: options.playlistS }));
    // -e: the error log before the config is read would otherwise be /var/log/nginx/error.log.
    const child = spawnOwned(binary, ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'], dieWithParent: true });
    this.#child = child;
    let stderr = '';
    child.child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const early = child.exited.then((exit) => {
      throw new Error(`nginx exited at start (code ${exit.code}): ${(stderr + this.#errorLog()).trim().slice(-800)}`);
    });
    await Promise.race([Promise.all([waitForPort('127.0.0.1', ports.rtmp, 5000), waitForPort('127.0.0.1', ports.http, 5000)]), early]);
  }

  /** nginx-rtmp lists a fragment once it is closed: resolves at two, like joining a running stream. */
  async ready(signal: AbortSignal, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await fetch(this.playlistUrl, { signal }).then((r) => (r.ok ? r.text() : null), () => null);
      if (text && parseHlsPlaylist(text).segments.length >= 2) return;
      signal.throwIfAborted();
      if (Date.now() > deadline) throw new Error(`nginx-hls: no playlist with 2 segments at ${this.playlistUrl} after ${timeoutMs / 1000} s`);
      await sleep(100, signal);
    }
  }

  /** Resolves with a reason if nginx exits before close() was called; never otherwise. */
  unexpectedExit(): Promise<string> {
    const child = this.#child;
    if (!child) return new Promise(() => {});
    return child.exited.then((exit) =>
      this.#closing ? new Promise<string>(() => {}) : `nginx exited (code ${exit.code}, signal ${exit.signal}): ${this.#errorLog().trim().slice(-400)}`,
    );
  }

  get pid(): number | undefined {
    const child = this.#child?.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  #errorLog(): string {
    try {
      return this.#dir ? readFileSync(join(this.#dir, 'error.log'), 'utf8') : '';
    } catch {
      return '';
    }
  }

  /** Idempotent: ends nginx (SIGTERM = fast shutdown), waits for it, removes the temp dir. */
  async close(): Promise<void> {
    this.#closing = true;
    const child = this.#child;
    this.#child = null;
    if (child) await child.stop();
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = null;
  }
}
