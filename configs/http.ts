// The `http` section both tiers share: where the HTTP(S) server listens, and whether it sits
// behind a reverse proxy whose X-Forwarded-* headers it may believe.

export interface HttpListenerConfig {
  host: string;
  port: number;
  /**
   * Fastify trustProxy: false = the socket peer is the client and X-Forwarded-* is ignored;
   * true = trust every hop (only when nothing but the proxy can reach this port); or the proxy
   * addresses/CIDRs to trust, e.g. ["127.0.0.1", "10.0.0.0/8"]. Decides request.ip and
   * request.protocol (the address in logs and limits).
   */
  trustProxy: boolean | string[];
}

/** Schema of an HTTP listener: loopback by default, port 0 = pick one, no proxy trusted. */
export const httpListenerSchema = (port: number) =>
  ({
    type: 'object',
    additionalProperties: false,
    default: {},
    properties: {
      host: { type: 'string', default: '127.0.0.1', minLength: 1 },
      port: { type: 'integer', default: port, minimum: 0, maximum: 65535 },
      trustProxy: {
        default: false,
        anyOf: [
          { type: 'boolean' },
          { type: 'array', items: { type: 'string', minLength: 1, maxLength: 64 }, minItems: 1, maxItems: 64 },
        ],
      },
    },
    required: ['host', 'port', 'trustProxy'],
  }) as const;
