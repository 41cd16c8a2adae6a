// Serves the teaching library from the origin: the case list (/library), the replay page
// (/library/<id>), one esbuild bundle for both and their stylesheet. The data comes from the
// recordings API and files (origin/recording); this plugin only serves the pages.
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync } from 'fastify';
import { ScopecastError } from '../lib/errors.js';
import { LIBRARY_CSS, isRecordingId, renderLibraryPage, renderReplayPage } from '../player/index.js';
import { asset, pageBundle, pathPrefix, sendAsset, sendPage, serveBundle } from './bundle.js';

export interface LibraryPluginOptions {
  /** Same-origin path of the recordings API. Default '/api/recordings'. */
  apiUrl?: string;
  /** Path prefix of the recording files. Default '/recordings'. */
  mediaPrefix?: string;
  /** Drawings fade this long after they appear unless pinned, ms (config annotations.fadeMs). */
  fadeMs: number;
}

const LIBRARY_ENTRY = fileURLToPath(new URL('../player/library/main.ts', import.meta.url));
export const LIBRARY_SCRIPT_URL = '/player/library.js';
const LIBRARY_CSS_URL = '/player/library.css';
const LIBRARY_URL = '/library';

export const libraryPlugin: FastifyPluginAsync<LibraryPluginOptions> = async (app, options) => {
  const apiUrl = pathPrefix(options.apiUrl, '/api/recordings', 'library apiUrl');
  const mediaPrefix = pathPrefix(options.mediaPrefix, '/recordings', 'library mediaPrefix');
  const bundle = pageBundle(app, LIBRARY_ENTRY, 'library');
  const stylesheet = asset(Buffer.from(LIBRARY_CSS), 'text/css; charset=utf-8');
  const common = { scriptUrl: LIBRARY_SCRIPT_URL, stylesheetUrl: LIBRARY_CSS_URL, apiUrl, libraryUrl: LIBRARY_URL };
  const listHtml = renderLibraryPage(common);

  app.get(LIBRARY_URL, async (_request, reply) => sendPage(reply, listHtml));
  app.get<{ Params: { id: string } }>(`${LIBRARY_URL}/:id`, async (request, reply) => {
    const { id } = request.params;
    if (!isRecordingId(id)) throw new ScopecastError('SC_ERR_RECORDING_INVALID', 'malformed recording id');
    // Whether it exists is the page's question (the API answers 404): the page itself is static.
    return sendPage(reply, renderReplayPage({ ...common, id, mediaPrefix, fadeMs: options.fadeMs }));
  });
  app.get(LIBRARY_CSS_URL, async (request, reply) => sendAsset(request, reply, stylesheet));
  serveBundle(app, LIBRARY_SCRIPT_URL, bundle);
};
