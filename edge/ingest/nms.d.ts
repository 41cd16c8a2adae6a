// The slice of node-media-server 4.4 (CommonJS, no types) that the edge uses.
declare module 'node-media-server' {
  import type { EventEmitter } from 'node:events';
  export interface NmsSession {
    id: string;
    ip: string;
    protocol: string;
    streamApp: string;
    streamName: string;
    streamPath: string;
    streamQuery: Record<string, unknown>;
    inBytes: number;
    videoWidth: number;
    videoHeight: number;
    videoFramerate: number;
    broadcast?: NmsBroadcast;
    close(): void;
  }
  export interface NmsSubscriber {
    id: string;
    ip: string;
    protocol: 'flv';
    streamPath: string;
    endTime: number;
    sendBuffer(buffer: Buffer): void;
    close(): void;
  }
  export interface NmsBroadcast {
    publishGraceMs: number;
    postPlay(session: NmsSubscriber): string | null;
    donePlay(session: NmsSubscriber): void;
  }
  export default class NodeMediaServer {
    constructor(config: Record<string, unknown>);
    /**
     * Created by the constructor; tlsServer only when the config has an rtmps section. handleRequest
     * is the listeners' connection handler (one RtmpSession per socket; see rtmp-limits.ts).
     */
    readonly rtmpServer?: {
      tlsServer?: import('node:tls').Server;
      tcpServer?: import('node:net').Server;
      handleRequest?: (socket: import('node:net').Socket) => void;
    };
    on(event: 'prePublish' | 'postPublish' | 'donePublish' | 'prePlay' | 'donePlay', listener: (session: NmsSession) => void): void;
    run(): Promise<void>;
    stop(): Promise<void>;
  }
}
declare module 'node-media-server/src/core/context.js' {
  import type { EventEmitter } from 'node:events';
  const Context: { eventEmitter: EventEmitter; sessions: Map<string, unknown>; broadcasts: Map<string, unknown> };
  export default Context;
}
declare module 'node-media-server/src/core/logger.js' {
  const logger: { level: string; log: (message: string, level?: string) => void };
  export default logger;
}
