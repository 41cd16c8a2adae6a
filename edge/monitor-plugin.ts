// The edge monitor page, GET /monitor/<stream>: the surgeon's screen in the county hospital. The
// edge serves the HTML and one small bundle; the page itself plays the stream over WHEP from the
// origin and gets the drawings from the origin's /ws/<stream>, so its CSP names that origin.
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { NO_CACHE, buildPageBundle, rejectStreamName, serveBundle, type Bundle } from '../origin/bundle.js';
import { monitorPageCsp, originEndpoints, renderMonitorPage } from '../player/index.js';

export interface MonitorPluginOptions {
  /** The origin's base URL (config origin.url): WHEP and /ws/<stream> are reached there. */
  originUrl: string;
  /** Unpinned drawings fade this long after they appear, ms. Default 5000. */
  fadeMs?: number;
}

const MONITOR_ENTRY = fileURLToPath(new URL('../player/monitor/main.ts', import.meta.url));
export const MONITOR_SCRIPT_URL = '/player/monitor.js';

export const monitorPlugin: FastifyPluginAsync<MonitorPluginOptions> = async (app, options) => {
  // Checked at registration: a bad origin URL fails the edge's start, not the surgeon's page.
  const origin = originEndpoints(options.originUrl);
  const csp = monitorPageCsp(origin);
  // Built on first request, not at start-up: the edge's cores belong to the encoder, and most
  // edges never have the monitor opened. A failed build is forgotten so the next request retries.
  let bundle: Promise<Bundle> | null = null;
  const getBundle = (): Promise<Bundle> =>
    (bundle ??= buildPageBundle(MONITOR_ENTRY, 'monitor').catch((error: unknown) => {
      bundle = null;
      throw error;
    }));

  app.get<{ Params: { stream: string } }>('/monitor/:stream', async (request, reply) => {
    const { stream } = request.params;
    if (rejectStreamName(stream, reply)) return reply;
    const html = renderMonitorPage({ stream, origin, scriptUrl: MONITOR_SCRIPT_URL, ...(options.fadeMs === undefined ? {} : { fadeMs: options.fadeMs }) });
    return reply
      .header('Cache-Control', NO_CACHE)
      .header('Content-Security-Policy', csp)
      .header('X-Content-Type-Options', 'nosniff')
      .header('Referrer-Policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(html);
  });

  serveBundle(app, MONITOR_SCRIPT_URL, getBundle);
};
