import type { FastifyInstance, FastifyReply } from 'fastify';
import { ScopecastError } from '../../lib/errors.js';
import { assertStreamName } from '../../lib/stream-name.js';
import type { WhipIngest } from './whip-ingest.js';
import { PUBLISHER_ROLES, streamParam, type AccessControl } from '../../lib/security/access.js';

export interface WhipPluginOptions {
  ingest: WhipIngest;
  maxSdpBytes: number;
  access: AccessControl;
}

/**
 * WHIP over HTTP: POST /whip/<stream> with a complete SDP offer -> 201 + answer + Location;
 * DELETE <Location> ends the publish; PATCH (trickle ICE) -> 405.
 */
export async function whipPlugin(app: FastifyInstance, options: WhipPluginOptions): Promise<void> {
  const { ingest, access } = options;
  // Oversized offers are cut off by fastify (413) before they are buffered whole.
  app.addContentTypeParser('application/sdp', { parseAs: 'string', bodyLimit: options.maxSdpBytes }, (_req, body, done) => done(null, body));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', 'Location');
  });
  app.options('/whip/*', async (_request, reply) =>
    reply.header('access-control-allow-methods', 'POST, DELETE, OPTIONS').header('access-control-allow-headers', 'content-type, authorization').code(204).send(),
  );

  app.post<{ Params: { stream: string }; Body: string }>(
    '/whip/:stream',
    {
      // The name and the token are checked before the body is even read.
      onRequest: async (request) => {
        const stream = assertStreamName(streamParam(request));
        request.principal = access.authorize(request, PUBLISHER_ROLES, stream, 'publish');
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/sdp') throw new ScopecastError('SC_ERR_CONTENT_TYPE', 'a WHIP offer is sent as application/sdp');
      },
    },
    async (request, reply) => {
      const offer = typeof request.body === 'string' ? request.body : '';
      const who = request.principal!;
      const { session, answer } = await ingest.publish(request.params.stream, offer, request.ip);
      // A revoked publisher token ends the publish within seconds.
      const unwatch = access.watch(who.jti, () => void ingest.end(session.stream, session.id).catch(() => {}));
      session.once('closed', unwatch);
      access.audit({ user: who.sub, role: who.role, ip: request.ip, action: 'publish', object: `live/${session.stream}/whip`, outcome: 'allowed' });
      request.log.info({ stream: session.stream, session: session.id }, 'WHIP publish negotiated');
      return reply
        .code(201)
        .header('content-type', 'application/sdp')
        .header('location', `/whip/${session.stream}/${session.id}`)
        .send(answer);
    },
  );

  app.delete<{ Params: { stream: string; id: string } }>('/whip/:stream/:id', { preHandler: access.guard(PUBLISHER_ROLES, streamParam) }, async (request, reply) => {
    await ingest.end(assertStreamName(request.params.stream), request.params.id);
    return reply.code(200).send();
  });

  // Refused before the body is parsed, whatever its type (trickle-ice-sdpfrag has no parser here).
  const noTrickle = async (_request: unknown, reply: FastifyReply): Promise<never> => {
    reply.header('allow', 'DELETE');
    throw new ScopecastError('SC_ERR_METHOD_NOT_ALLOWED', 'trickle ICE and ICE restarts are not supported: send a complete offer');
  };
  app.patch('/whip/:stream/:id', { onRequest: noTrickle }, noTrickle);
}
