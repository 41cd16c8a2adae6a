// Live LL-HLS for page tests: a real ffmpeg HLS muxer writing to a temp dir, a tiny static route
// standing in for the HLS plugin, and waits on window.__scopecast that explain themselves on timeout.
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import type { Page } from 'playwright-core';
import { FfmpegProcess } from '../../codecs/ffmpeg/index.js';
import { VIEWER_ROLES, type AccessControl } from '../../lib/security/access.js';
import type { WatchState } from '../../player/index.js';
import type { Teardownable } from './browser.js';
import { processGone } from './process.js';

/** Live fMP4 HLS with PROGRAM-DATE-TIME; a multivariant index.m3u8 points at stream.m3u8. */
export function liveHlsArgs(dir: string, options: { live: boolean }): string[] {
  return [
    '-hide_banner', '-loglevel', 'error', '-nostdin',
    ...(options.live ? ['-re'] : []),
    '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
    ...(options.live ? [] : ['-t', '3']),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-g', '30', '-bf', '0', '-pix_fmt', 'yuv420p',
    // Without a bitrate ffmpeg 5.1 writes an empty multivariant playlist ("Bandwidth info not available").
    '-b:v', '1500k', '-maxrate', '1500k', '-bufsize', '1500k',
    '-f', 'hls', '-hls_time', '1', '-hls_list_size', options.live ? '6' : '0',
    '-hls_segment_type', 'fmp4', '-hls_fmp4_init_filename', 'init.mp4',
    '-hls_segment_filename', join(dir, 'seg_%05d.m4s'),
    '-hls_flags', `${options.live ? 'delete_segments+' : ''}program_date_time+independent_segments+temp_file`,
    ...(options.live ? [] : ['-hls_playlist_type', 'vod']),
    '-master_pl_name', 'index.m3u8',
    join(dir, 'stream.m3u8'),
  ];
}

const CONTENT_TYPES: Record<string, string> = {
  '.m3u8': 'application/vnd.apple.mpegurl',
  '.mp4': 'video/mp4',
  '.m4s': 'video/iso.segment',
};

/** Flip `outage` to make every HLS request fail with 503, as if the origin link dropped. */
export interface HlsSwitch {
  outage: boolean;
}

/**
 * GET /hls/:stream/:file from `streams[stream]` (a directory); the map may be filled in later. With
 * `access`, every request needs a viewer token for that stream, as on the origin's HLS plugin
 * (401 without a valid one, 403 for another stream or role).
 */
export function serveHlsDirs(app: FastifyInstance, streams: Record<string, string>, control: HlsSwitch = { outage: false }, access?: AccessControl): void {
  const preHandler = access?.guard(VIEWER_ROLES, (request) => (request.params as { stream: string }).stream);
  app.get<{ Params: { stream: string; file: string } }>('/hls/:stream/:file', { ...(preHandler ? { preHandler } : {}) }, async (request, reply) => {
    if (control.outage) return reply.code(503).send();
    const dir = streams[request.params.stream];
    const file = request.params.file;
    const type = CONTENT_TYPES[extname(file)];
    if (!dir || !type || !/^[A-Za-z0-9_.-]+$/.test(file) || file.startsWith('.')) return reply.code(404).send();
    try {
      const body = await readFile(join(dir, file));
      return reply.header('Cache-Control', 'no-cache').type(type).send(body);
    } catch {
      return reply.code(404).send();
    }
  });
}

export async function waitForFile(path: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await access(path);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${path} did not appear within ${timeoutMs} ms`);
      await sleep(100);
    }
  }
}

/**
 * Starts a live ffmpeg HLS muxer in a fresh temp dir and waits for its index.m3u8. Teardown closes
 * ffmpeg, fails the run if the process survived, and removes the dir.
 */
export async function startLiveHls(t: Teardownable): Promise<{ dir: string; ffmpeg: FfmpegProcess }> {
  const dir = await mkdtemp(join(tmpdir(), 'scopecast-hls-'));
  const ffmpeg = new FfmpegProcess({ args: liveHlsArgs(dir, { live: true }) });
  t.teardown(async () => {
    const pid = ffmpeg.pid;
    await ffmpeg.close();
    // Assertions are not allowed in teardown; a leaked ffmpeg fails the run by throwing.
    if (pid !== undefined && !(await processGone(pid))) throw new Error(`ffmpeg pid ${pid} survived close()`);
    await rm(dir, { recursive: true, force: true });
  });
  await waitForFile(join(dir, 'index.m3u8'), 15_000);
  return { dir, ffmpeg };
}

/** Page console lines, kept so a failed wait can say what the page saw. */
export function captureConsole(page: Page): string[] {
  const lines: string[] = [];
  page.on('console', (msg) => lines.push(`${msg.type()}: ${msg.text()}`));
  page.on('pageerror', (error) => lines.push(`pageerror: ${error.message}`));
  return lines;
}

export interface PageObserver {
  /** Uncaught exceptions in the page. */
  pageErrors: string[];
  /** Requests to anything but `base`, blob: and data: URLs. */
  foreign: string[];
  /** Console lines (and page errors), for failure messages. */
  consoleLines: string[];
}

/** Starts recording what a page does wrong: uncaught errors, requests off the origin, console. */
export function observePage(page: Page, base: string): PageObserver {
  const observer: PageObserver = { pageErrors: [], foreign: [], consoleLines: captureConsole(page) };
  page.on('pageerror', (error) => observer.pageErrors.push(error.message));
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(base) && !url.startsWith('blob:') && !url.startsWith('data:')) observer.foreign.push(url);
  });
  return observer;
}

/** Waits until `predicate` (run in the page) holds; on timeout fails with the snapshot and console tail. */
export async function waitForSnapshot(
  page: Page,
  what: string,
  predicate: (arg: string | null) => boolean,
  arg: string | null,
  timeoutMs: number,
  consoleLines: string[],
): Promise<void> {
  try {
    await page.waitForFunction(predicate, arg, { timeout: timeoutMs });
  } catch (error) {
    const snapshot = await page.evaluate(() => JSON.stringify(window.__scopecast)).catch(() => 'unavailable');
    throw new Error(`${what} never happened: ${snapshot}\n${consoleLines.slice(-30).join('\n')}`, { cause: error });
  }
}

/** Waits for window.__scopecast.state; on timeout fails with the snapshot and console tail. */
export function waitForState(page: Page, state: WatchState, timeoutMs: number, consoleLines: string[]): Promise<void> {
  return waitForSnapshot(page, `state ${state}`, (want) => window.__scopecast?.state === want, state, timeoutMs, consoleLines);
}
