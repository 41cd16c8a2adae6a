// Ends connections whose LL-HLS responses stop going out: a viewer that stopped reading (a laptop
// asleep, a dead 5G link) would otherwise keep its socket and buffered segments at the origin
// until TCP gives up (~15 min).
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface ConnectionDeadline {
  timer: NodeJS.Timeout | null;
  /** Responses handed to this connection and not finished. */
  pending: number;
}

/**
 * One deadline per connection, not per response: pipelined responses queued behind a stuck one
 * never see their own 'close'. While responses wait to go out on a connection, one must finish
 * within `ms` of the first starting or the last finishing, else the connection is destroyed and
 * `onStalled` is told. Timers end with their connection.
 */
export class SendDeadlines {
  readonly #ms: number;
  readonly #onStalled: (pending: number) => void;
  readonly #connections = new WeakMap<Socket, ConnectionDeadline>();

  constructor(ms: number, onStalled: (pending: number) => void) {
    this.#ms = ms;
    this.#onStalled = onStalled;
  }

  /** A response is about to be sent on `socket` (any blocking wait is over). */
  track(socket: Socket, response: ServerResponse): void {
    // Gone already (a parked request released after its client left): its 'close' has fired,
    // so a timer armed now would outlive it.
    if (socket.destroyed) return;
    let deadline = this.#connections.get(socket);
    if (!deadline) {
      const fresh: ConnectionDeadline = { timer: null, pending: 0 };
      this.#connections.set(socket, (deadline = fresh));
      socket.once('close', () => this.#disarm(fresh));
    }
    const connection = deadline;
    connection.pending += 1;
    if (!connection.timer) this.#arm(socket, connection);
    response.once('finish', () => {
      connection.pending -= 1;
      this.#disarm(connection);
      if (connection.pending > 0 && !socket.destroyed) this.#arm(socket, connection);
    });
  }

  #arm(socket: Socket, connection: ConnectionDeadline): void {
    connection.timer = setTimeout(() => {
      connection.timer = null;
      if (socket.destroyed) return;
      this.#onStalled(connection.pending);
      socket.destroy();
    }, this.#ms);
  }

  #disarm(connection: ConnectionDeadline): void {
    if (connection.timer) clearTimeout(connection.timer);
    connection.timer = null;
  }
}
