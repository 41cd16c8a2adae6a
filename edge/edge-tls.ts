// Everything TLS on the edge, from its config: HTTPS/WSS for its own server, the client to an
// https:// origin (uplink and control link), and the RTMPS listener. Files are read once, here.
import type { EdgeConfig } from '../configs/index.js';
import { readTlsFiles } from '../configs/index.js';
import { fastifyTlsOptions, originTlsClient, type FastifyTlsOptions, type OriginTlsClient } from '../lib/tls.js';
import type { RtmpsOptions } from './ingest/rtmps.js';

export interface EdgeTls {
  /** Spread into Fastify({ ... }). */
  readonly fastify: FastifyTlsOptions;
  /** For the uplink (dispatcher) and the control link (ws); closed by the edge after its pipelines. */
  readonly origin: OriginTlsClient;
  /** For RtmpIngest; undefined when rtmp.tlsPort is 0. */
  readonly rtmps: RtmpsOptions | undefined;
  /** rtmps://host:port for the log and the API; null when RTMPS is off. */
  readonly rtmpsUrl: string | null;
}

/** Throws SC_ERR_CONFIG_INVALID when a configured file cannot be read or does not load. */
export function edgeTls(config: Readonly<EdgeConfig>): EdgeTls {
  const files = readTlsFiles('edge', config.tls);
  // loadEdgeConfig already refused rtmp.tlsPort without a certificate.
  const rtmps: RtmpsOptions | undefined =
    config.rtmp.tlsPort !== 0 && files.server
      ? { port: config.rtmp.tlsPort, certFile: config.tls.certFile, keyFile: config.tls.keyFile, server: files.server }
      : undefined;
  return {
    fastify: fastifyTlsOptions(config.http, files.server),
    origin: originTlsClient(config.origin.url, files.client),
    rtmps,
    rtmpsUrl: rtmps ? `rtmps://${config.rtmp.host}:${rtmps.port}` : null,
  };
}
