// Serves the /status dashboard from the origin: the HTML, its esbuild bundle and stylesheet, and
// GET /api/status with whatever `snapshot()` returns. The data source is the caller's (the
// origin's latency book); this plugin only publishes it.
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import type { StatusSnapshot } from './latency/status-types.js';
import { STATUS_CSS, renderStatusPage } from '../player/index.js';
import { asset, pageBundle, sendAsset, sendPage, serveBundle } from './bundle.js';
import { ADMIN_ONLY, EVERY_STREAM, type AccessControl } from '../lib/security/access.js';

export interface StatusPluginOptions {
  /** Called once per GET /api/status; a throw becomes a 500 and the page shows "retrying". */
  snapshot: () => StatusSnapshot;
  /** /api/status is for IT (admin tokens); the page itself is a static shell. */
  access: AccessControl;
}

const STATUS_ENTRY = fileURLToPath(new URL('../player/status/main.ts', import.meta.url));
export const STATUS_SCRIPT_URL = '/player/status.js';
const STATUS_CSS_URL = '/player/status.css';
export const STATUS_API_URL = '/api/status';

export const statusPlugin: FastifyPluginAsync<StatusPluginOptions> = async (app, options) => {
  if (typeof options.snapshot !== 'function') {
    throw new ScopecastError('SC_ERR_CONFIG_INVALID', 'status plugin needs a snapshot() function');
  }
  const snapshot = options.snapshot;
  const bundle = pageBundle(app, STATUS_ENTRY, 'status');
  const stylesheet = asset(Buffer.from(STATUS_CSS), 'text/css; charset=utf-8');
  const html = renderStatusPage({ scriptUrl: STATUS_SCRIPT_URL, stylesheetUrl: STATUS_CSS_URL, apiUrl: STATUS_API_URL });

  app.get('/status', async (_request, reply) => sendPage(reply, html));
  app.get(STATUS_CSS_URL, async (request, reply) => sendAsset(request, reply, stylesheet));
  serveBundle(app, STATUS_SCRIPT_URL, bundle);

  // Live figures: never cached by the browser or a proxy in between.
  app.get(STATUS_API_URL, { preHandler: options.access.guard(ADMIN_ONLY, EVERY_STREAM) }, async (_request, reply) => reply.header('Cache-Control', 'no-store').send(snapshot()));
};
