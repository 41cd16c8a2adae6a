// RTMPS for the embedded node-media-server: its config section, and the TLS floor NMS does not set.
import type NodeMediaServer from 'node-media-server';
import type { TlsServerOptions } from '../../configs/index.js';

export interface RtmpsOptions {
  /** Listener port (same bind address as RTMP). */
  port: number;
  /** PEM paths: node-media-server reads them itself when it is constructed. */
  certFile: string;
  keyFile: string;
  /** The same files, already read and checked by readTlsFiles(), with the TLS floor. */
  server: TlsServerOptions;
}

/** The `rtmps` part of the NMS config; nothing when RTMPS is off. */
export function nmsRtmpsConfig(options: RtmpsOptions | undefined): { rtmps?: { port: number; key: string; cert: string } } {
  return options ? { rtmps: { port: options.port, key: options.keyFile, cert: options.certFile } } : {};
}

/**
 * NMS 4.4 builds its RTMPS listener with tls.createServer({ key, cert }) and nothing else, so the
 * floor would be whatever tls.DEFAULT_MIN_VERSION is at that moment. Setting that default is not
 * an option: it is process-global (every TLS socket of the process, the uplink's and the HTTPS
 * server's included, and anyone else's change would leak into ours). Instead, between NMS's
 * constructor (which creates the server) and run() (which listens), the listener's secure context
 * is replaced through the public tls.Server#setSecureContext() with the same key and certificate
 * plus minVersion; the server keeps that minVersion for every handshake it accepts.
 * Throws if NMS no longer exposes the server the way 4.4 does: RTMPS without the floor must not start.
 */
export function enforceRtmpsFloor(nms: NodeMediaServer, options: RtmpsOptions): void {
  const server = nms.rtmpServer?.tlsServer;
  if (!server || typeof server.setSecureContext !== 'function') {
    throw new Error('node-media-server did not create an RTMPS listener to apply the TLS floor to (NMS version changed?)');
  }
  server.setSecureContext({ key: options.server.key, cert: options.server.cert, minVersion: options.server.minVersion });
}
