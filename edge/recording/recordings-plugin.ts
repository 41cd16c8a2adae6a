// The edge's local recordings over HTTP: GET /api/recordings (newest first) and
// GET /recordings/<id>/<file> (meta.json or partN.mp4) to fetch a case or fill an uplink gap.
// Ids and file names are whitelisted before they touch a path.
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../../lib/errors.js';
import { LOCAL_RECORDING_ID, type LocalRecordingMeta } from './local-recorder.js';
import { ADMIN_ONLY, EVERY_STREAM, type AccessControl } from '../../lib/security/access.js';

const FILE = /^(meta\.json|part\d{1,4}\.mp4)$/;

/** The hospital's own copies: IT (admin tokens) only. */
export async function edgeRecordingsPlugin(app: FastifyInstance, options: { root: string; access: AccessControl }): Promise<void> {
  const { root, access } = options;
  const admin = { preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) };

  app.get('/api/recordings', admin, async () => {
    const ids = (await readdir(root).catch(() => [] as string[])).filter((id) => LOCAL_RECORDING_ID.test(id));
    const metas: LocalRecordingMeta[] = [];
    for (const id of ids) {
      try {
        metas.push(JSON.parse(await readFile(join(root, id, 'meta.json'), 'utf8')) as LocalRecordingMeta);
      } catch {
        // a recording being created or a broken one: skip it in the list
      }
    }
    metas.sort((a, b) => b.startedAt.localeCompare(a.startedAt));
    return { recordings: metas };
  });

  app.get<{ Params: { id: string; file: string } }>('/recordings/:id/:file', admin, async (request, reply) => {
    const { id, file } = request.params;
    if (!LOCAL_RECORDING_ID.test(id) || !FILE.test(file)) throw new ScopecastError('SC_ERR_NOT_FOUND', 'no such recording file');
    const path = join(root, id, file);
    const info = await stat(path).catch(() => null);
    if (!info?.isFile()) throw new ScopecastError('SC_ERR_NOT_FOUND', 'no such recording file');
    const who = request.principal!;
    access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'download', object: `edge-recording/${id}/${file}`, outcome: 'allowed' });
    return reply
      .type(file.endsWith('.json') ? 'application/json' : 'video/mp4')
      .header('content-length', String(info.size))
      .header('cache-control', 'no-store')
      .send(createReadStream(path));
  });
}
