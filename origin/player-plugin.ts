// Serves the trainee watch page and its assets from the origin: the HTML, one esbuild bundle
// (video.js chrome + hls.js), hls.js's worker and the video.js stylesheet. No external hosts.
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { renderWatchPage } from '../player/index.js';
import { pageBundle, pathPrefix, rejectStreamName, sendPage, serveBundle, servePlayerFiles } from './bundle.js';

export interface PlayerPluginOptions {
  /** Unpinned drawings fade after this long, ms (config annotations.fadeMs). Default 5000. */
  fadeMs?: number;
  /** Path prefix under which the HLS plugin serves `/<stream>/index.m3u8`. Default '/hls'. */
  hlsPrefix?: string;
}

const WATCH_ENTRY = fileURLToPath(new URL('../player/watch/main.ts', import.meta.url));
const SCRIPT_URL = '/player/watch.js';
const HLS_WORKER_URL = '/player/hls.worker.js';
const VIDEOJS_CSS_URL = '/player/video-js.css';

export const playerPlugin: FastifyPluginAsync<PlayerPluginOptions> = async (app, options) => {
  const hlsPrefix = pathPrefix(options.hlsPrefix, '/hls', 'player hlsPrefix');
  const bundle = pageBundle(app, WATCH_ENTRY, 'watch');

  app.get<{ Params: { stream: string } }>('/watch/:stream', async (request, reply) => {
    const { stream } = request.params;
    if (rejectStreamName(stream, reply)) return reply;
    return sendPage(reply, renderWatchPage({ stream, hlsPrefix, scriptUrl: SCRIPT_URL, videoJsCssUrl: VIDEOJS_CSS_URL, ...(options.fadeMs !== undefined ? { fadeMs: options.fadeMs } : {}) }));
  });

  serveBundle(app, SCRIPT_URL, bundle);
  servePlayerFiles(app, { hlsWorker: HLS_WORKER_URL, videoJsCss: VIDEOJS_CSS_URL });
};
