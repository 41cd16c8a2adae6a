// Tokens never reach a log: URLs lose their token query value, credential headers are redacted,
// and node-media-server's own messages (which may quote a publish URL) are cleaned the same way.
import type { FastifyServerOptions } from 'fastify';

const TOKEN_IN_TEXT = /(token=)[^&\s"']+/gi;
const BEARER_IN_TEXT = /(bearer\s+)[A-Za-z0-9._~+/=-]+/gi;

export function redactSecrets(text: string): string {
  return text.replace(TOKEN_IN_TEXT, '$1[redacted]').replace(BEARER_IN_TEXT, '$1[redacted]');
}

/** fastify logger options: level, credential headers redacted, request URLs without tokens. */
export function tierLoggerOptions(level: string): FastifyServerOptions['logger'] {
  return {
    level,
    redact: ['req.headers.authorization', 'req.headers["x-scopecast-ingest-key"]', 'req.headers.cookie'],
    serializers: {
      req: (request: { method: string; url: string; ip?: string; socket?: { remotePort?: number } }) => ({
        method: request.method,
        url: redactSecrets(request.url),
        remoteAddress: request.ip,
        remotePort: request.socket?.remotePort,
      }),
    },
  };
}
