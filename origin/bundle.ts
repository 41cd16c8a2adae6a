// What the page plugins (trainee /watch, expert /expert) share: the page CSP and headers, ETagged
// assets, esbuild bundles of a page entry (built once, pre-built when the server is ready, a failed
// build forgotten so the next request retries), and the stream-name check on page routes.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as esbuild from 'esbuild';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { isValidStreamName } from '../player/index.js';

// The page, the worker and the stylesheet are revalidated on every load; the ETag makes that cheap.
export const NO_CACHE = 'no-cache';

/** Self only. WebRTC media is not a fetch: srcObject needs no media-src entry. */
export const PAGE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "worker-src 'self' blob:",
  "connect-src 'self'",
  "media-src 'self' blob:",
  "img-src 'self' data: blob:",
  // video.js injects its own <style> element; the page has one inline <style> block.
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'self'",
].join('; ');

export interface Asset {
  body: Buffer;
  etag: string;
  type: string;
}

export interface Bundle {
  js: Asset;
  map: Asset;
}

export function asset(body: Buffer | Uint8Array, type: string): Asset {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { body: buffer, type, etag: `"${createHash('sha256').update(buffer).digest('base64url').slice(0, 27)}"` };
}

export function sendAsset(request: FastifyRequest, reply: FastifyReply, item: Asset): FastifyReply {
  reply.header('Cache-Control', NO_CACHE).header('ETag', item.etag).header('X-Content-Type-Options', 'nosniff');
  if (request.headers['if-none-match'] === item.etag) return reply.code(304).send();
  return reply.type(item.type).send(item.body);
}

export function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .header('Cache-Control', NO_CACHE)
    .header('Content-Security-Policy', PAGE_CSP)
    .header('X-Content-Type-Options', 'nosniff')
    .header('Referrer-Policy', 'no-referrer')
    .type('text/html; charset=utf-8')
    .send(html);
}

/** Sends 400 SC_ERR_STREAM_NAME and returns true when `stream` is not a valid stream name. */
export function rejectStreamName(stream: string, reply: FastifyReply): boolean {
  if (isValidStreamName(stream)) return false;
  const error = new ScopecastError('SC_ERR_STREAM_NAME', 'use 1-64 of A-Z a-z 0-9 _ -');
  void reply.code(error.statusCode).send({ ...error.toJSON(), fatal: true });
  return true;
}

/** Trims trailing slashes; throws SC_ERR_CONFIG_INVALID unless it is an absolute path. */
export function pathPrefix(value: string | undefined, fallback: string, name: string): string {
  const prefix = (value ?? fallback).replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9/_-]*$/.test(prefix)) {
    throw new ScopecastError('SC_ERR_CONFIG_INVALID', `${name} must be an absolute path, got ${JSON.stringify(value)}`);
  }
  return prefix;
}

/** video.js without its bundled VHS engine: hls.js is the only streaming engine on the pages. */
const videoJsCorePlugin: esbuild.Plugin = {
  name: 'scopecast-videojs-core',
  setup(build) {
    build.onResolve({ filter: /^video\.js$/ }, async (args) => {
      const resolved = await build.resolve('video.js/core.es.js', { kind: args.kind, resolveDir: args.resolveDir });
      return resolved.errors.length > 0 ? { errors: resolved.errors } : { path: resolved.path };
    });
  },
};

/** Bundles one page entry (absolute path to its main.ts) into `<name>.js` plus a linked source map. */
export async function buildPageBundle(entry: string, name: string): Promise<Bundle> {
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    outfile: join(dirname(entry), `${name}.js`),
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [videoJsCorePlugin],
  });
  const js = result.outputFiles.find((file) => file.path.endsWith('.js'));
  const map = result.outputFiles.find((file) => file.path.endsWith('.js.map'));
  if (!js || !map) throw new Error(`esbuild produced no ${name} bundle`);
  return {
    js: asset(js.contents, 'text/javascript; charset=utf-8'),
    map: asset(map.contents, 'application/json; charset=utf-8'),
  };
}

/**
 * Built once, on first request; a failed build is forgotten so the next request retries.
 * Also built in the background once the server is up, so the first viewer does not wait ~0.7 s
 * for esbuild (time to first frame); a failure there is retried on the first request.
 */
export function pageBundle(app: FastifyInstance, entry: string, name: string): () => Promise<Bundle> {
  let bundle: Promise<Bundle> | null = null;
  const get = (): Promise<Bundle> => {
    bundle ??= buildPageBundle(entry, name).catch((error: unknown) => {
      bundle = null;
      throw error;
    });
    return bundle;
  };
  app.addHook('onReady', async () => {
    get().catch((error: unknown) => app.log.warn({ err: error }, `${name} bundle pre-build failed`));
  });
  return get;
}

/** Serves `<url>.js` and `<url>.js.map` from a page bundle. */
export function serveBundle(app: FastifyInstance, scriptUrl: string, bundle: () => Promise<Bundle>): void {
  app.get(scriptUrl, async (request, reply) => sendAsset(request, reply, (await bundle()).js));
  app.get(`${scriptUrl}.map`, async (request, reply) => sendAsset(request, reply, (await bundle()).map));
}

/** URLs of the files every page that uses VideoController needs next to its bundle. */
export interface PlayerFileUrls {
  hlsWorker: string;
  videoJsCss: string;
}

/** Serves hls.js's worker and the video.js stylesheet from node_modules, read once and kept. */
export function servePlayerFiles(app: FastifyInstance, urls: PlayerFileUrls): void {
  const require = createRequire(import.meta.url);
  const videoJsDist = join(dirname(require.resolve('video.js/package.json')), 'dist');
  const hlsDist = join(dirname(require.resolve('hls.js/package.json')), 'dist');
  const files = new Map<string, Promise<Asset>>();
  const getFile = (path: string, type: string): Promise<Asset> => {
    let file = files.get(path);
    if (!file) {
      file = readFile(path).then((body) => asset(body, type));
      file.catch(() => files.delete(path));
      files.set(path, file);
    }
    return file;
  };
  app.get(urls.hlsWorker, async (request, reply) =>
    sendAsset(request, reply, await getFile(join(hlsDist, 'hls.worker.js'), 'text/javascript; charset=utf-8')));
  app.get(urls.videoJsCss, async (request, reply) =>
    sendAsset(request, reply, await getFile(join(videoJsDist, 'video-js.min.css'), 'text/css; charset=utf-8')));
}
