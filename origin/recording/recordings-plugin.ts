// The recordings API and the recording files:
//   GET    /api/recordings                 list, newest first
//   GET    /api/recordings/:id             meta + chapters + bookmarks
//   PATCH  /api/recordings/:id             {title?, procedure?}
//   POST   /api/recordings/:id/bookmarks   {atMs, label}
//   POST   /api/recordings/:id/chapters    {atMs, label}
//   DELETE /api/recordings/:id             admin key only (x-scopecast-admin-key); 409 while live
//   GET    /recordings/:id/:file           playlist.m3u8, init_N.mp4, seg_N.m4s, annotations.jsonl
// Ids and file names are whitelisted before any path is built (ids.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { FastifyPluginAsync } from 'fastify';
import { ScopecastError } from '../../lib/errors.js';
import { isNotFound } from './files.js';
import { contentTypeFor, isRecordingId, SERVED_FILE_RE } from './ids.js';
import { parseMark, parseMetaPatch } from './model.js';
import type { RecordingService } from './service.js';

export const ADMIN_KEY_HEADER = 'x-scopecast-admin-key';
export const RECORDINGS_API_URL = '/api/recordings';
export const RECORDINGS_MEDIA_PREFIX = '/recordings';

export interface RecordingsPluginOptions {
  service: RecordingService;
  /** Keys that may delete (config recordings.adminKeys); empty = nobody may. */
  adminKeys: readonly string[];
}

interface IdParams {
  id: string;
}

/** Hashing first makes every comparison the same length, so neither content nor length leaks. */
const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export const recordingsPlugin: FastifyPluginAsync<RecordingsPluginOptions> = async (app, options) => {
  const { service } = options;
  const adminDigests = options.adminKeys.map(digest);
  const isAdmin = (given: unknown): boolean => {
    if (typeof given !== 'string' || given === '' || adminDigests.length === 0) return false;
    const d = digest(given);
    let ok = false;
    for (const key of adminDigests) ok = timingSafeEqual(key, d) || ok; // no early exit
    return ok;
  };
  const small = { bodyLimit: 4096 };

  app.get(RECORDINGS_API_URL, async (_request, reply) => reply.header('Cache-Control', 'no-store').send({ recordings: await service.list() }));

  app.get<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, async (request, reply) =>
    reply.header('Cache-Control', 'no-store').send(await service.get(request.params.id)));

  app.patch<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, small, async (request) => {
    const patch = parseMetaPatch(request.body);
    const details = await service.patch(request.params.id, patch);
    request.log.info({ recording: details.id }, 'recording details changed');
    return details;
  });

  app.post<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id/bookmarks`, small, async (request, reply) => {
    const bookmark = await service.addBookmark(request.params.id, parseMark(request.body));
    return reply.code(201).send({ bookmark });
  });

  app.post<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id/chapters`, small, async (request, reply) => {
    const chapter = await service.addChapter(request.params.id, parseMark(request.body));
    return reply.code(201).send({ chapter });
  });

  app.delete<{ Params: IdParams }>(`${RECORDINGS_API_URL}/:id`, async (request) => {
    // Authorisation before anything touches the disk.
    if (!isAdmin(request.headers[ADMIN_KEY_HEADER])) throw new ScopecastError('SC_ERR_FORBIDDEN', 'deleting a recording needs an admin key');
    const { id } = request.params;
    await service.delete(id);
    request.log.warn({ recording: id }, 'recording deleted by admin');
    return { deleted: id };
  });

  app.get<{ Params: IdParams & { file: string } }>(`${RECORDINGS_MEDIA_PREFIX}/:id/:file`, async (request, reply) => {
    const { id, file } = request.params;
    if (!isRecordingId(id)) throw new ScopecastError('SC_ERR_RECORDING_INVALID', 'malformed recording id');
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
