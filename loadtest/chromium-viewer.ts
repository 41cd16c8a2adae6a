// A real viewer: headless Chromium plays a page (hls.js) and reads the pixel stamp of every
// presented frame (requestVideoFrameCallback -> small canvas -> barcode reader bundled into the
// page). latency = frame's expected display time (epoch ms) - stamp drawn by the console.
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './chromium.js';

export interface PresentedFrame {
  stampMs: number;
  shownAtMs: number;
}

const BARCODE_ENTRY = fileURLToPath(new URL('../codecs/barcode/index.ts', import.meta.url));

async function readerBundle(): Promise<string> {
  const result = await build({
    stdin: {
      contents: `import { readStamp } from ${JSON.stringify(BARCODE_ENTRY)}; (globalThis as any).__scReadStamp = readStamp;`,
      loader: 'ts',
      resolveDir: process.cwd(),
    },
    bundle: true,
    write: false,
    format: 'iife',
    target: 'es2020',
  });
  return result.outputFiles[0]!.text;
}

// Runs in the page: sample every presented frame at 384x216 (the stamp's cells are 6 px wide there).
function installProbe(selector: string): void {
  const w = 384;
  const h = 216;
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  const rows = Math.max(1, Math.floor(h / 12));
  const luma = new Uint8Array(w * h);
  const out: Array<[number, number]> = [];
  const g = globalThis as unknown as { __scFrames: Array<[number, number]>; __scUnreadable: number; __scReadStamp: (y: Uint8Array, w: number, h: number) => number | null };
  g.__scFrames = out;
  g.__scUnreadable = 0;
  const onFrame = (_now: number, meta: { expectedDisplayTime: number }): void => {
    const video = document.querySelector(selector) as HTMLVideoElement | null;
    if (!video) return;
    ctx.drawImage(video, 0, 0, w, h);
    const px = ctx.getImageData(0, 0, w, rows).data;
    for (let i = 0, j = 0; i < px.length; i += 4, j++) luma[j] = (px[i]! * 77 + px[i + 1]! * 150 + px[i + 2]! * 29) >> 8;
    const stamp = g.__scReadStamp(luma, w, h);
    if (stamp === null) g.__scUnreadable += 1;
    else out.push([stamp, performance.timeOrigin + meta.expectedDisplayTime]);
    video.requestVideoFrameCallback(onFrame);
  };
  const start = (): void => {
    const video = document.querySelector(selector) as HTMLVideoElement | null;
    if (video) video.requestVideoFrameCallback(onFrame);
    else setTimeout(start, 50);
  };
  start();
}

export class ChromiumViewer {
  #browser: Browser | null = null;
  #page: Page | null = null;
  #openedAt = 0;
  readonly #errors: string[] = [];

  /** Page errors and console errors seen so far. */
  get errors(): readonly string[] {
    return this.#errors;
  }

  async open(url: string, selector = 'video', extraArgs: readonly string[] = []): Promise<void> {
    this.#browser = await launchChromium(extraArgs);
    // The watch page has a strict CSP; the probe script is ours, not the page's.
    const context = await this.#browser.newContext({ bypassCSP: true });
    this.#page = await context.newPage();
    this.#page.on('pageerror', (err) => this.#errors.push(err.message));
    this.#page.on('console', (msg) => {
      if (msg.type() === 'error') this.#errors.push(msg.text());
    });
    await this.#page.addInitScript({ content: await readerBundle() });
    // tsx/esbuild may wrap our functions with a __name() helper; give the page a no-op one.
    await this.#page.addInitScript(`var __name = (f) => f; (${installProbe.toString()})(${JSON.stringify(selector)});`);
    this.#openedAt = Date.now();
    await this.#page.goto(url);
  }

  get openedAt(): number {
    return this.#openedAt;
  }

  /** Frames presented so far (stamp, display time), drained. */
  async take(): Promise<{ frames: PresentedFrame[]; unreadable: number }> {
    if (!this.#page) return { frames: [], unreadable: 0 };
    const raw = await this.#page.evaluate(() => {
      const g = globalThis as unknown as { __scFrames: Array<[number, number]>; __scUnreadable: number };
      const frames = g.__scFrames.splice(0);
      return { frames, unreadable: g.__scUnreadable };
    });
    return { frames: raw.frames.map(([stampMs, shownAtMs]) => ({ stampMs, shownAtMs })), unreadable: raw.unreadable };
  }

  /** Run a function in the page (for reading its debug state). */
  evaluate<T>(fn: () => T): Promise<T> {
    if (!this.#page) throw new Error('viewer not open');
    return this.#page.evaluate(fn);
  }

  async close(): Promise<void> {
    await this.#browser?.close();
    this.#browser = null;
    this.#page = null;
  }
}
