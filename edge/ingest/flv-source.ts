import { randomUUID } from 'node:crypto';
import type { NmsBroadcast, NmsSubscriber } from 'node-media-server';

/** A live FLV byte stream of one published console, from its header and current GOP on. */
export interface FlvSource {
  /** Attach a sink; it first receives the FLV header, metadata, sequence headers and the cached GOP. */
  subscribe(sink: (chunk: Buffer) => void): () => void;
}

/** FLV straight out of node-media-server's broadcast, as an internal (unlogged) subscriber. */
export class NmsFlvSource implements FlvSource {
  readonly #broadcast: NmsBroadcast;
  readonly #streamPath: string;

  constructor(broadcast: NmsBroadcast, streamPath: string) {
    this.#broadcast = broadcast;
    this.#streamPath = streamPath;
  }

  subscribe(sink: (chunk: Buffer) => void): () => void {
    let attached = true;
    const subscriber: NmsSubscriber = {
      id: `scopecast-${randomUUID()}`,
      // An empty ip marks an internal session: NMS skips auth, play events and play counts.
      ip: '',
      protocol: 'flv',
      streamPath: this.#streamPath,
      endTime: 0,
      sendBuffer: (buffer) => {
        if (attached) sink(buffer);
      },
      close: () => detach(),
    };
    const detach = (): void => {
      if (!attached) return;
      attached = false;
      this.#broadcast.donePlay(subscriber);
    };
    const refused = this.#broadcast.postPlay(subscriber);
    if (refused) throw new Error(refused);
    return detach;
  }
}
