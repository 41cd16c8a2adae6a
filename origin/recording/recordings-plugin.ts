// The recordings API and the recording files:
//   GET    /api/recordings                 list, newest first
//   GET    /api/recordings/:id             meta + chapters + bookmarks
//   PATCH  /api/recordings/:id             {title?, procedure?}
//   POST   /api/recordings/:id/bookmarks   {atMs, label}
//   POST   /api/recordings/:id/chapters    {atMs, label}
//   DELETE /api/recordings/:id             admin only; 409 while live
//   GET    /recordings/:id/:file           playlist.m3u8, init_N.mp4, seg_N.m4s, annotations.jsonl
// Ids and file names are whitelisted before any path is built (ids.ts). Every route needs a
// token: viewers read the recordings of the stream their token names ('*' = all), experts and
// surgeons also mark them, only admins delete.
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { ADMIN_ONLY, EDITOR_ROLES, VIEWER_ROLES, type AccessControl } from '../../lib/security/access.js';
import { ScopecastError } from '../../lib/errors.js';
import { isNotFound } from './files.js';
import { contentTypeFor, isRecordingId, SERVED_FILE_RE } from './ids.js';
import { parseMark, parseMetaPatch } from './model.js';
import type { RecordingService } from './service.js';

export const RECORDINGS_API_URL = '/api/recordings';
export const RECORDINGS_MEDIA_PREFIX = '/recordings';

export interface RecordingsPluginOptions {
  service: RecordingService;
  access: AccessControl;
}

interface IdParams {
  id: string;
}

export const recordingsPlugin: FastifyPluginAsync<RecordingsPluginOptions> = async (app, options) => {
  const { service, access } = options;
  // A token first (401/403 before anything else); then, per recording, its stream must be in scope.
  const viewer = { preHandler: access.guard(VIEWER_ROLES) };
  const editor = { preHandler: access.guard(EDITOR_ROLES), bodyLimit: 4096 };
  const admin = { preHandler: access.guard(ADMIN_ONLY) };
  const inAdminScope = async (request: FastifyRequest, id: string): Promise<void> => {
    const { stream } = await service.get(id);
    access.authorize(request, ADMIN_ONLY, stream);
  };
  const inScope = async (request: FastifyRequest, id: string): Promise<string> => {
    const { stream } = await service.get(id);
    access.authorize(request, VIEWER_ROLES, stream);
    return stream;
  };

  app.get(RECORDINGS_API_URL, viewer, async (request, reply) => {
    const scope = request.principal!.stream;
    const recordings = (await service.list()).filter((r) => scope === '*' || r.stream === scope);
    return reply.header('Cache-Control', 'no-store').send({ recordings });
  });

  app.get<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, viewer, async (request, reply) => {
    await inScope(request, request.params.id);
    return reply.header('Cache-Control', 'no-store').send(await service.get(request.params.id));
  });

  app.patch<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, editor, async (request) => {
    await inScope(request, request.params.id);
    const patch = parseMetaPatch(request.body);
    const details = await service.patch(request.params.id, patch);
    request.log.info({ recording: details.id }, 'recording details changed');
    return details;
  });

  app.post<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id/bookmarks`, editor, async (request, reply) => {
    await inScope(request, request.params.id);
    const bookmark = await service.addBookmark(request.params.id, parseMark(request.body));
    return reply.code(201).send({ bookmark });
  });

  app.post<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id/chapters`, editor, async (request, reply) => {
    await inScope(request, request.params.id);
    const chapter = await service.addChapter(request.params.id, parseMark(request.body));
    return reply.code(201).send({ chapter });
  });

  app.delete<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, admin, async (request) => {
    const { id } = request.params;
    const who = request.principal!;
    try {
      await inAdminScope(request, id);
      await service.delete(id);
    } catch (err) {
      access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'delete', object: `recording/${id.slice(0, 64)}`, outcome: 'failed', detail: (err as Error).message });
      throw err;
    }
    access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'delete', object: `recording/${id}`, outcome: 'ok' });
    request.log.warn({ recording: id, by: who.sub }, 'recording deleted by admin');
    return { deleted: id };
  });

  app.get<{ Params: IdParams & { file: string } }>(`${RECORDINGS_MEDIA_PREFIX}/:id/:file`, viewer, async (request, reply) => {
    const { id, file } = request.params;
    if (!isRecordingId(id)) throw new ScopecastError('SC_ERR_RECORDING_INVALID', 'malformed recording id');
    await inScope(request, id);
    // One audit line per replay or download (the playlist), not one per segment.
    if (!file.endsWith('.m4s')) {
      const who = request.principal!;
      access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'download', object: `recording/${id}/${file.slice(0, 64)}`, outcome: 'allowed' });
    }
    const path = SERVED_FILE_RE.test(file) ? service.filePath(id, file) : null;
    if (!path) throw new ScopecastError('SC_ERR_RECORDING_NOT_FOUND', `${id}: no such file`);
    let body: Buffer;
    try {
      body = await readFile(path);
    } catch (error) {
      if (isNotFound(error) || (error as NodeJS.ErrnoException).code === 'EISDIR') {
        throw new ScopecastError('SC_ERR_RECORDING_NOT_FOUND', `${id}/${file}`);
      }
      throw error;
    }
    // Media files never change once listed; the playlist grows while live and the track with it.
    const media = file.endsWith('.m4s') || file.endsWith('.mp4');
    return reply
      .header('Cache-Control', media ? 'private, max-age=3600' : 'no-cache')
      .header('X-Content-Type-Options', 'nosniff')
      .type(contentTypeFor(file))
      .send(body);
  });
};
