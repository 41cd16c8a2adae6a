// Public surface of origin/recording: recordings of live streams, their API and the library pages.
import type { AccessControl } from '../../lib/security/access.js';
import type { FastifyInstance } from 'fastify';
import type { OriginConfig } from '../../configs/index.js';
import { ScopecastError } from '../../lib/errors.js';
import type { AnnotationHub } from '../annotations/hub.js';
import { libraryPlugin } from '../library-plugin.js';
import type { OriginMetrics } from '../metrics.js';
import type { StreamRegistry } from '../streams/registry.js';
import { RECORDINGS_API_URL, RECORDINGS_MEDIA_PREFIX, recordingsPlugin } from './recordings-plugin.js';
import { RecordingService } from './service.js';

export { RecordingService, DEFAULT_RECONNECT_GRACE_MS, type RecordingServiceOptions } from './service.js';
export { RECORDINGS_API_URL, RECORDINGS_MEDIA_PREFIX } from './recordings-plugin.js';
export { RECORDING_ID_RE, SERVED_FILE_RE, isRecordingId, newRecordingId } from './ids.js';
export { writeVodPlaylist, type VodEntry } from './vod-playlist.js';
export type { Bookmark, Chapter, ChapterKind, RecordingDetails, RecordingMeta, RecordingSummary } from './types.js';

export interface RegisterRecordingsOptions {
  config: Pick<OriginConfig, 'recordings' | 'annotations'>;
  registry: StreamRegistry;
  hub: AnnotationHub;
  metrics: OriginMetrics;
  access: AccessControl;
  /** A stream live again within this time continues its recording, ms. Default 30 s. */
  reconnectGraceMs?: number;
}

/**
 * Records every live stream (when config.recordings.enabled), serves the recordings API and the
 * library pages, and finishes the recordings when the app closes. Call before the app is ready;
 * once per app. Returns the service (tests and shutdown order).
 */
export async function registerRecordings(app: FastifyInstance, options: RegisterRecordingsOptions): Promise<RecordingService> {
  if (app.hasDecorator('scopecastRecordings')) throw new ScopecastError('SC_ERR_CONFIG_INVALID', 'recordings are already registered on this app');
  const { config } = options;
  const service = new RecordingService({
    config,
    registry: options.registry,
    hub: options.hub,
    metrics: options.metrics,
    log: app.log.child({ component: 'recordings' }),
    ...(options.reconnectGraceMs !== undefined ? { reconnectGraceMs: options.reconnectGraceMs } : {}),
  });
  app.decorate('scopecastRecordings', service);
  // onClose runs after the server stopped accepting and the registry closed its streams (preClose):
  // every recorder then writes its open segment and ends its playlist.
  app.addHook('onClose', async () => {
    await service.close();
  });
  await app.register(recordingsPlugin, { service, access: options.access });
  await app.register(libraryPlugin, { apiUrl: RECORDINGS_API_URL, mediaPrefix: RECORDINGS_MEDIA_PREFIX, fadeMs: config.annotations.fadeMs });
  return service;
}
