// The owning origin's side of a relay: GET /cluster/relay/<stream> streams the live stream to
// another origin of the cluster: what it has now (init segments, the current window's parts, the
// realtime init), then everything as it arrives, a ping when quiet, and `end` when it ends.
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { ScopecastError } from '../../lib/errors.js';
import { assertStreamName } from '../../lib/stream-name.js';
import { ingestKeyChecker } from '../../lib/security/ingest-key.js';
import type { LiveStream } from '../streams/live-stream.js';
import type { StreamRegistry } from '../streams/registry.js';
import { encodeRecord, RELAY_CONTENT_TYPE, type RelayHeader } from './relay-protocol.js';

export interface RelaySourceOptions {
  registry: StreamRegistry;
  /** The cluster's shared credential: the origins' ingest keys. */
  keys: readonly string[];
  pingIntervalMs: number;
  /** A puller this far behind is cut off (it reconnects and starts from the current window). */
  maxBufferedBytes: number;
  onRelay?: (stream: string, change: 'opened' | 'closed') => void;
}

export async function relaySourcePlugin(app: FastifyInstance, options: RelaySourceOptions): Promise<void> {
  const { registry } = options;
  const keyAccepted = ingestKeyChecker(options.keys);
  const open = new Set<PassThrough>();
  // Closing: every relay ends, so pullers reconnect elsewhere (or wait) and close() is not held.
  app.addHook('preClose', async () => {
    for (const out of open) out.end();
  });

  app.get<{ Params: { stream: string } }>('/cluster/relay/:stream', async (request, reply) => {
    if (!keyAccepted(request.headers)) throw new ScopecastError('SC_ERR_INGEST_AUTH');
    const name = assertStreamName(request.params.stream);
    const live = registry.get(name);
    if (!live || live.state !== 'live' || live.relayedFrom) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', `${name} is not live on this origin`);
    const out = new PassThrough();
    open.add(out);
    const stop = relay(live, out, options);
    options.onRelay?.(name, 'opened');
    const finish = (): void => {
      if (!open.delete(out)) return;
      stop();
      options.onRelay?.(name, 'closed');
    };
    out.once('close', finish);
    request.raw.once('close', () => {
      finish();
      out.destroy();
    });
    request.log.info({ stream: name }, 'relaying stream to another origin');
    return reply.header('content-type', RELAY_CONTENT_TYPE).header('cache-control', 'no-store').send(out);
  });
}

/** Writes the stream's current state and then its media to `out`; returns the unsubscribe. */
function relay(live: LiveStream, out: PassThrough, options: RelaySourceOptions): () => void {
  let lastWrite = Date.now();
  const write = (header: RelayHeader, body?: Buffer): void => {
    if (out.writableLength > options.maxBufferedBytes) {
      out.destroy(new Error('relay puller fell behind'));
      return;
    }
    lastWrite = Date.now();
    out.write(encodeRecord(header, body));
  };
  write({ kind: 'stream', edgeId: live.edgeId, profile: live.profile });
  if (live.realtimeInit) write({ kind: 'rt-init' }, live.realtimeInit);
  for (const r of live.renditions) {
    const generation = r.store.generation;
    const init = r.init(generation);
    if (!init) continue;
    write({ kind: 'init', rendition: r.name, partTarget: r.partTarget, bandwidth: r.bandwidth }, init);
    // The window's parts of this generation, from a segment start (a keyframe).
    for (const segment of r.store.segments) {
      if (segment.generation !== generation) continue;
      for (const part of segment.parts) write({ kind: 'part', rendition: r.name, wallClockMs: part.wallClockMs ?? null }, part.data);
    }
  }
  const onMedia = (header: RelayHeader, body: Buffer): void => write(header, body);
  const onEnded = (): void => {
    write({ kind: 'end' });
    out.end();
  };
  const onClosed = (): void => void out.end();
  live.on('media', onMedia);
  live.once('ended', onEnded);
  live.once('closed', onClosed);
  const ping = setInterval(() => {
    if (Date.now() - lastWrite >= options.pingIntervalMs) write({ kind: 'ping' });
  }, options.pingIntervalMs);
  return () => {
    clearInterval(ping);
    live.off('media', onMedia);
    live.off('ended', onEnded);
    live.off('closed', onClosed);
  };
}
