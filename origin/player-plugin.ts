// Serves the trainee watch page and its assets from the origin: the HTML, one esbuild bundle
// (video.js chrome + hls.js), hls.js's worker and the video.js stylesheet. No external hosts.
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { isValidStreamName, renderWatchPage } from '../player/index.js';

export interface PlayerPluginOptions {
  /** Path prefix under which the HLS plugin serves `/<stream>/index.m3u8`. Default '/hls'. */
  hlsPrefix?: string;
}

const WATCH_ENTRY = fileURLToPath(new URL('../player/watch/main.ts', import.meta.url));
const SCRIPT_URL = '/player/watch.js';
const SOURCE_MAP_URL = '/player/watch.js.map';
const HLS_WORKER_URL = '/player/hls.worker.js';
const VIDEOJS_CSS_URL = '/player/video-js.css';

// The page, the worker and the stylesheet are revalidated on every load; the ETag makes that cheap.
const NO_CACHE = 'no-cache';
const CSP = [
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

interface Asset {
  body: Buffer;
  etag: string;
  type: string;
}

function asset(body: Buffer | Uint8Array, type: string): Asset {
  const buffer = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  return { body: buffer, type, etag: `"${createHash('sha256').update(buffer).digest('base64url').slice(0, 27)}"` };
}

/** video.js without its bundled VHS engine: hls.js is the only streaming engine on the page. */
const videoJsCorePlugin: esbuild.Plugin = {
  name: 'scopecast-videojs-core',
  setup(build) {
    build.onResolve({ filter: /^video\.js$/ }, async (args) => {
      const resolved = await build.resolve('video.js/core.es.js', { kind: args.kind, resolveDir: args.resolveDir });
      return resolved.errors.length > 0 ? { errors: resolved.errors } : { path: resolved.path };
    });
  },
};

async function buildWatchBundle(): Promise<{ js: Asset; map: Asset }> {
  const result = await esbuild.build({
    entryPoints: [WATCH_ENTRY],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2020',
    minify: true,
    sourcemap: 'linked',
    outfile: join(dirname(WATCH_ENTRY), 'watch.js'),
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'none',
    logLevel: 'silent',
    plugins: [videoJsCorePlugin],
  });
  const js = result.outputFiles.find((file) => file.path.endsWith('.js'));
  const map = result.outputFiles.find((file) => file.path.endsWith('.js.map'));
  if (!js || !map) throw new Error('esbuild produced no watch bundle');
  return {
    js: asset(js.contents, 'text/javascript; charset=utf-8'),
    map: asset(map.contents, 'application/json; charset=utf-8'),
  };
}

function send(request: FastifyRequest, reply: FastifyReply, item: Asset): FastifyReply {
  reply.header('Cache-Control', NO_CACHE).header('ETag', item.etag).header('X-Content-Type-Options', 'nosniff');
  if (request.headers['if-none-match'] === item.etag) return reply.code(304).send();
  return reply.type(item.type).send(item.body);
}

export const playerPlugin: FastifyPluginAsync<PlayerPluginOptions> = async (app, options) => {
  const hlsPrefix = (options.hlsPrefix ?? '/hls').replace(/\/+$/, '');
  if (!/^\/[A-Za-z0-9/_-]*$/.test(hlsPrefix)) {
    throw new ScopecastError('SC_ERR_CONFIG_INVALID', `player hlsPrefix must be an absolute path, got ${JSON.stringify(options.hlsPrefix)}`);
  }
  const require = createRequire(import.meta.url);
  const videoJsDist = join(dirname(require.resolve('video.js/package.json')), 'dist');
  const hlsDist = join(dirname(require.resolve('hls.js/package.json')), 'dist');

  // Built once, on first request; a failed build is forgotten so the next request retries.
  let bundle: Promise<{ js: Asset; map: Asset }> | null = null;
  const getBundle = (): Promise<{ js: Asset; map: Asset }> => {
    bundle ??= buildWatchBundle().catch((error: unknown) => {
      bundle = null;
      throw error;
    });
    return bundle;
  };
  // Build in the background once the server is up, so the first viewer does not wait ~0.7 s
  // for esbuild (time to first frame). A failure here is retried on the first request.
  app.addHook('onReady', async () => {
    getBundle().catch((error: unknown) => app.log.warn({ err: error }, 'watch bundle pre-build failed'));
  });
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

  app.get<{ Params: { stream: string } }>('/watch/:stream', async (request, reply) => {
    const { stream } = request.params;
    if (!isValidStreamName(stream)) {
      const error = new ScopecastError('SC_ERR_STREAM_NAME', 'use 1-64 of A-Z a-z 0-9 _ -');
      return reply.code(error.statusCode).send({ ...error.toJSON(), fatal: true });
    }
    const html = renderWatchPage({ stream, hlsPrefix, scriptUrl: SCRIPT_URL, videoJsCssUrl: VIDEOJS_CSS_URL });
    return reply
      .header('Cache-Control', NO_CACHE)
      .header('Content-Security-Policy', CSP)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(html);
  });

  app.get(SCRIPT_URL, async (request, reply) => send(request, reply, (await getBundle()).js));
  app.get(SOURCE_MAP_URL, async (request, reply) => send(request, reply, (await getBundle()).map));
  app.get(HLS_WORKER_URL, async (request, reply) =>
    send(request, reply, await getFile(join(hlsDist, 'hls.worker.js'), 'text/javascript; charset=utf-8')));
  app.get(VIDEOJS_CSS_URL, async (request, reply) =>
    send(request, reply, await getFile(join(videoJsDist, 'video-js.min.css'), 'text/css; charset=utf-8')));
};
