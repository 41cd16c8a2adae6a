// Headless Chromium for page tests, plus pixel statistics to tell a real picture from a blank one.
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../../loadtest/chromium.js';

export { CHROMIUM_PATH } from '../../loadtest/chromium.js';

export function launchBrowser(extraArgs: string[] = []): Promise<Browser> {
  return launchChromium(extraArgs);
}

/** The part of tap's Test this helper needs. */
export interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Launches a browser, closes it in t.teardown (even if fn throws), and runs fn with it. */
export async function withBrowser<T>(t: Teardownable, fn: (browser: Browser) => Promise<T>, extraArgs?: string[]): Promise<T> {
  const browser = await launchBrowser(extraArgs);
  t.teardown(() => browser.close());
  return fn(browser);
}

export interface FrameStats {
  width: number;
  height: number;
  /** Mean luma, 0..255 (BT.709 weights). */
  mean: number;
  /** Luma variance; a blank or single-colour frame is near 0. */
  variance: number;
  /** Distinct luma values (0..256); a blank frame has one or two. */
  distinct: number;
}

/** Below this luma variance (and with few distinct levels) a frame counts as blank. */
export const BLANK_VARIANCE = 20;

export function isBlankStats(stats: FrameStats, threshold = BLANK_VARIANCE): boolean {
  return stats.width === 0 || stats.height === 0 || stats.variance < threshold || stats.distinct < 4;
}

// Runs in the page: luma statistics of whatever can be drawn on a 2D canvas.
// Kept self-contained (no closures) because Playwright serialises it.
// The PNG arrives as base64 and is decoded without fetch(), which the page's CSP would block.
async function pageLumaStats(input: { selector: string | null; pngBase64: string | null; sample: number }): Promise<FrameStats> {
  let source: CanvasImageSource;
  let width: number;
  let height: number;
  if (input.pngBase64 !== null) {
    const binary = atob(input.pngBase64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const bitmap = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
    source = bitmap;
    width = bitmap.width;
    height = bitmap.height;
  } else {
    const video = document.querySelector(input.selector ?? 'video');
    if (!(video instanceof HTMLVideoElement)) throw new Error(`no <video> matches ${input.selector}`);
    source = video;
    width = video.videoWidth;
    height = video.videoHeight;
  }
  if (width === 0 || height === 0) return { width, height, mean: 0, variance: 0, distinct: 0 };
  const scale = Math.min(1, input.sample / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale));
  const h = Math.max(1, Math.round(height * scale));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new Error('no 2d context');
  ctx.drawImage(source, 0, 0, w, h);
  const data = ctx.getImageData(0, 0, w, h).data;
  const seen = new Uint8Array(256);
  let sum = 0;
  let sumSq = 0;
  const n = w * h;
  for (let i = 0; i < data.length; i += 4) {
    const y = Math.round(0.2126 * (data[i] ?? 0) + 0.7152 * (data[i + 1] ?? 0) + 0.0722 * (data[i + 2] ?? 0));
    seen[y] = 1;
    sum += y;
    sumSq += y * y;
  }
  const mean = sum / n;
  let distinct = 0;
  for (const v of seen) distinct += v;
  return { width, height, mean, variance: sumSq / n - mean * mean, distinct };
}

/** Statistics of the current frame of a <video>, drawn to a canvas in the page (same-origin media only). */
export function videoFrameStats(page: Page, selector = 'video', sample = 160): Promise<FrameStats> {
  return page.evaluate(pageLumaStats, { selector, pngBase64: null, sample });
}

/** Statistics of a PNG (e.g. a screenshot), decoded by the browser in `page`. */
export function pngStats(page: Page, png: Buffer, sample = 160): Promise<FrameStats> {
  return page.evaluate(pageLumaStats, { selector: null, pngBase64: png.toString('base64'), sample });
}

/** True when the PNG is (near) a single colour. The page only lends its decoder; use any page. */
export async function isBlank(page: Page, png: Buffer, threshold = BLANK_VARIANCE): Promise<boolean> {
  return isBlankStats(await pngStats(page, png), threshold);
}

/** Screenshot of the element's box as PNG. */
export async function screenshotElement(page: Page, selector: string): Promise<Buffer> {
  const box = await page.locator(selector).first().boundingBox();
  if (!box) throw new Error(`${selector} has no layout box`);
  return page.screenshot({ clip: box, type: 'png' });
}
