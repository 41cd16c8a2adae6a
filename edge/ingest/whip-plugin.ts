import type { FastifyInstance, FastifyReply } from 'fastify';
import { ScopecastError } from '../../lib/errors.js';
import { assertStreamName } from '../../lib/stream-name.js';
import type { WhipIngest } from './whip-ingest.js';

export interface WhipPluginOptions {
  ingest: WhipIngest;
  maxSdpBytes: number;
}

/**
 * WHIP over HTTP: POST /whip/<stream> with a complete SDP offer -> 201 + answer + Location;
 * DELETE <Location> ends the publish; PATCH (trickle ICE) -> 405.
 */
export async function whipPlugin(app: FastifyInstance, options: WhipPluginOptions): Promise<void> {
  const { ingest } = options;
  // Oversized offers are cut off by fastify (413) before they are buffered whole.
  app.addContentTypeParser('application/sdp', { parseAs: 'string', bodyLimit: options.maxSdpBytes }, (_req, body, done) => done(null, body));
  app.addHook('onSend', async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-expose-headers', 'Location');
  });
  app.options('/whip/*', async (_request, reply) =>
    reply.header('access-control-allow-methods', 'POST, DELETE, OPTIONS').header('access-control-allow-headers', 'content-type').code(204).send(),
  );

  app.post<{ Params: { stream: string }; Body: string }>(
    '/whip/:stream',
    {
      // The name is checked before the body is even read.
      onRequest: async (request) => {
        assertStreamName((request.params as { stream: string }).stream);
        const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        if (type !== 'application/sdp') throw new ScopecastError('SC_ERR_CONTENT_TYPE', 'a WHIP offer is sent as application/sdp');
      },
    },
    async (request, reply) => {
      const offer = typeof request.body === 'string' ? request.body : '';
      const { session, answer } = await ingest.publish(request.params.stream, offer, request.ip);
      request.log.info({ stream: session.stream, session: session.id }, 'WHIP publish negotiated');
      return reply
        .code(201)
        .header('content-type', 'application/sdp')
        .header('location', `/whip/${session.stream}/${session.id}`)
        .send(answer);
    },
  );

  app.delete<{ Params: { stream: string; id: string } }>('/whip/:stream/:id', async (request, reply) => {
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
