import type { FastifyError, FastifyInstance } from 'fastify';
import { ScopecastError } from './errors.js';

/**
 * One error handler for every tier: our coded errors keep their code and status; fastify's own
 * (body too large, bad content type) keep theirs; anything else is a 500 that is logged and
 * never leaks a stack trace to the client.
 */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ScopecastError, request, reply) => {
    if (error instanceof ScopecastError) {
      request.log.info({ code: error.code }, error.message);
      return reply.code(error.statusCode).send(error.toJSON());
    }
    const status = typeof error.statusCode === 'number' && error.statusCode >= 400 ? error.statusCode : 500;
    if (status >= 500) request.log.error({ err: error }, 'request failed');
    // fastify's own codes (FST_ERR_CTP_BODY_TOO_LARGE, ...) are stable too: pass them on.
    const body = status >= 500
      ? new ScopecastError('SC_ERR_INTERNAL').toJSON()
      : { type: 'error', code: error.code ?? 'SC_ERR_BAD_REQUEST', message: error.message, details: {}, fatal: false };
    return reply.code(status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new ScopecastError('SC_ERR_NOT_FOUND', `${request.method} ${request.url.split('?')[0] ?? ''}`);
    return reply.code(404).send(error.toJSON());
  });
}
