import type { FastifyInstance } from 'fastify';
import { Gauge, Counter } from 'prom-client';
import { ScopecastError } from '../../lib/errors.js';
import { assertStreamName } from '../../lib/stream-name.js';
import type { OriginConfig } from '../../configs/index.js';
import type { OriginMetrics } from '../metrics.js';
import type { StreamRegistry } from '../streams/registry.js';
import type { LiveStream } from '../streams/live-stream.js';
import { WebRtcStreamSender } from './stream-sender.js';
import { checkOffer, WhepSession } from './whep-session.js';
import { ADMIN_ONLY, EVERY_STREAM, WEBRTC_VIEWER_ROLES, streamParam, type AccessControl } from '../../lib/security/access.js';

export interface WhepPluginOptions {
  config: OriginConfig;
  registry: StreamRegistry;
  metrics: OriginMetrics;
  access: AccessControl;
  /** Before a session: bring a stream held by another origin of the cluster here. */
  locate?: (stream: string) => Promise<void>;
  /** This origin's WebRTC sessions on a stream changed (the cluster shares the counts). */
  onViewers?: (stream: string, count: number) => void;
}

const SESSION_ID = /^[0-9a-f-]{36}$/;

/**
 * WHEP egress (draft-ietf-wish-whep): POST /whep/<stream> with an SDP offer -> 201 + answer +
 * Location; DELETE <Location> ends it. No trickle: the answer carries every candidate.
 */
export async function whepPlugin(app: FastifyInstance, options: WhepPluginOptions): Promise<void> {
  const { config, registry, metrics, access } = options;
  const webrtc = config.webrtc;
  const senders = new Map<LiveStream, WebRtcStreamSender>();
  const sessions = new Map<string, WhepSession>();
  const viewers = new Gauge({ name: 'scopecast_webrtc_viewers', help: 'WHEP viewers connected or negotiating', labelNames: ['stream'] as const, registers: [metrics.registry] });
  const outcomes = new Counter({ name: 'scopecast_webrtc_sessions_total', help: 'WHEP session requests by outcome', labelNames: ['outcome'] as const, registers: [metrics.registry] });

  const senderFor = (live: LiveStream): WebRtcStreamSender => {
    let sender = senders.get(live);
    if (!sender) {
      sender = new WebRtcStreamSender(live.realtime, { fastStartMaxAgeMs: webrtc.fastStartMaxAgeMs });
      senders.set(live, sender);
    }
    return sender;
  };
  // A sender per live stream from the start, so its GOP cache is warm for the first viewer.
  registry.on('started', (live) => {
    if (webrtc.enabled) senderFor(live);
  });
  registry.on('removed', (live) => {
    senders.get(live)?.close();
    senders.delete(live);
    viewers.remove({ stream: live.name });
  });
  app.addHook('preClose', async () => {
    for (const sender of senders.values()) sender.close();
    senders.clear();
    await Promise.all([...sessions.values()].map((s) => s.close('server-closed')));
  });

  app.addContentTypeParser('application/sdp', { parseAs: 'string', bodyLimit: webrtc.maxSdpBytes }, (_req, body, done) => done(null, body));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', 'Location');
  });
  app.options('/whep/*', async (_request, reply) =>
    reply.header('access-control-allow-methods', 'POST, DELETE, OPTIONS').header('access-control-allow-headers', 'content-type, authorization').code(204).send(),
  );

  // onRequest: the token is checked before the offer body is read.
  app.post<{ Params: { stream: string }; Body: string }>('/whep/:stream', { onRequest: access.guard(WEBRTC_VIEWER_ROLES, streamParam) }, async (request, reply) => {
    const who = request.principal!;
    const name = assertStreamName(request.params.stream);
    if (!webrtc.enabled) throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', 'WebRTC is disabled on this origin');
    const offer = typeof request.body === 'string' ? request.body : '';
    try {
      checkOffer(offer, webrtc.maxSdpBytes);
    } catch (err) {
      outcomes.inc({ outcome: 'bad-sdp' });
      throw err;
    }
    await options.locate?.(name);
    const live = registry.get(name);
    if (!live || live.state !== 'live' || !live.realtime.track) {
      outcomes.inc({ outcome: 'not-live' });
      throw new ScopecastError('SC_ERR_STREAM_NOT_FOUND', `${name} has no live WebRTC feed`);
    }
    const sender = senderFor(live);
    if (sender.viewers >= webrtc.maxViewersPerStream) {
      outcomes.inc({ outcome: 'limit' });
      throw new ScopecastError('SC_ERR_WEBRTC_LIMIT', `${webrtc.maxViewersPerStream} viewers on ${name}`);
    }
    const { session, answer } = await WhepSession.create(name, offer, webrtc, webrtc.viewerQueuePackets);
    sessions.set(session.id, session);
    // The session holds its token: a revocation ends the picture within seconds.
    const unwatch = access.watch(who.jti, () => void session.close('revoked'));
    session.once('closed', unwatch);
    access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'watch', object: `live/${name}/webrtc`, outcome: 'allowed' });
    sender.add(session);
    viewers.set({ stream: name }, sender.viewers);
    options.onViewers?.(name, sender.viewers);
    session.once('closed', (reason) => {
      sessions.delete(session.id);
      viewers.set({ stream: name }, senders.get(live)?.viewers ?? 0);
      options.onViewers?.(name, senders.get(live)?.viewers ?? 0);
      request.log.info({ stream: name, session: session.id, reason, ...session.info }, 'WHEP session closed');
    });
    // A viewer that never completes ICE must not hold a slot forever.
    const connectTimer = setTimeout(() => void session.close('failed'), 15_000);
    session.once('connected', () => clearTimeout(connectTimer));
    session.once('closed', () => clearTimeout(connectTimer));
    outcomes.inc({ outcome: 'created' });
    request.log.info({ stream: name, session: session.id }, 'WHEP session created');
    return reply
      .code(201)
      .header('content-type', 'application/sdp')
      .header('location', `/whep/${name}/${session.id}`)
      .send(answer);
  });

  app.delete<{ Params: { stream: string; id: string } }>('/whep/:stream/:id', { preHandler: access.guard(WEBRTC_VIEWER_ROLES, streamParam) }, async (request, reply) => {
    assertStreamName(request.params.stream);
    const session = SESSION_ID.test(request.params.id) ? sessions.get(request.params.id) : undefined;
    if (!session || session.stream !== request.params.stream) throw new ScopecastError('SC_ERR_WEBRTC_SESSION', request.params.id.slice(0, 40));
    await session.close('deleted');
    return reply.code(200).send();
  });

  app.patch('/whep/:stream/:id', async (_request, reply) =>
    reply.code(405).header('allow', 'DELETE').send({ type: 'error', code: 'SC_ERR_SDP', message: 'trickle ICE is not supported: send a complete offer', details: {}, fatal: false }),
  );

  app.get('/api/webrtc/sessions', { preHandler: access.guard(ADMIN_ONLY, EVERY_STREAM) }, async () => ({
    sessions: [...sessions.values()].map((s) => ({ stream: s.stream, ...s.info })),
    streams: [...senders.entries()].map(([live, sender]) => ({ stream: live.name, viewers: sender.viewers, staleFrames: sender.staleFrames })),
  }));
}
