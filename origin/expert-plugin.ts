// Serves the remote expert's page and its assets from the origin: the HTML, two esbuild bundles
// (the small WHEP page, and the trainee page's video.js/hls.js pipeline as fallback, loaded on
// demand), hls.js's worker and the video.js stylesheet. The WHEP and HLS endpoints themselves
// belong to other plugins.
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { renderExpertPage } from '../player/index.js';
import { pageBundle, pathPrefix, rejectStreamName, sendPage, serveBundle, servePlayerFiles } from './bundle.js';

export interface ExpertPluginOptions {
  /** Unpinned drawings fade after this long, ms (config annotations.fadeMs). Default 5000. */
  fadeMs?: number;
  /** Path prefix under which the HLS plugin serves `/<stream>/index.m3u8`. Default '/hls'. */
  hlsPrefix?: string;
  /** Path prefix of the WHEP endpoint, `POST <whepPrefix>/<stream>`. Default '/whep'. */
  whepPrefix?: string;
}

const EXPERT_ENTRY = fileURLToPath(new URL('../player/expert/main.ts', import.meta.url));
const FALLBACK_ENTRY = fileURLToPath(new URL('../player/expert/fallback-entry.ts', import.meta.url));
// Its own URLs, so the expert and watch plugins can be registered together or alone.
export const EXPERT_SCRIPT_URL = '/player/expert.js';
export const EXPERT_FALLBACK_SCRIPT_URL = '/player/expert-fallback.js';
const HLS_WORKER_URL = '/player/expert/hls.worker.js';
const VIDEOJS_CSS_URL = '/player/expert/video-js.css';

export const expertPlugin: FastifyPluginAsync<ExpertPluginOptions> = async (app, options) => {
  const hlsPrefix = pathPrefix(options.hlsPrefix, '/hls', 'expert hlsPrefix');
  const whepPrefix = pathPrefix(options.whepPrefix, '/whep', 'expert whepPrefix');
  const bundle = pageBundle(app, EXPERT_ENTRY, 'expert');
  const fallbackBundle = pageBundle(app, FALLBACK_ENTRY, 'expert-fallback');

  app.get<{ Params: { stream: string } }>('/expert/:stream', async (request, reply) => {
    const { stream } = request.params;
    if (rejectStreamName(stream, reply)) return reply;
    return sendPage(reply, renderExpertPage({ stream, hlsPrefix, whepPrefix, scriptUrl: EXPERT_SCRIPT_URL, videoJsCssUrl: VIDEOJS_CSS_URL, ...(options.fadeMs !== undefined ? { fadeMs: options.fadeMs } : {}) }));
  });

  serveBundle(app, EXPERT_SCRIPT_URL, bundle);
  serveBundle(app, EXPERT_FALLBACK_SCRIPT_URL, fallbackBundle);
  servePlayerFiles(app, { hlsWorker: HLS_WORKER_URL, videoJsCss: VIDEOJS_CSS_URL });
};
