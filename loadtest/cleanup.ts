// What a bench started, in order, so it can all be ended: at the end of the run, on an error, or
// on Ctrl-C. Owned by one run (no module state); run() is idempotent and closes in reverse order.

interface Entry {
  name: string;
  close: () => Promise<void>;
  /** pid of the OS process behind it, while it runs: for the last-resort SIGKILL. */
  pid?: () => number | undefined;
}

export class Cleanup {
  readonly #entries: Entry[] = [];
  #running: Promise<void> | null = null;

  /** Register something to close; the newest is closed first. */
  add(name: string, close: () => Promise<void>, pid?: () => number | undefined): void {
    this.#entries.push(pid ? { name, close, pid } : { name, close });
  }

  /** Close everything, newest first; a failure is reported and the rest still closed. */
  run(): Promise<void> {
    this.#running ??= (async () => {
      for (const entry of [...this.#entries].reverse()) {
        try {
          await entry.close();
        } catch (err) {
          console.error(`closing ${entry.name} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.#running;
  }

  /** Last resort (a second Ctrl-C, or closing hung): SIGKILL every process still known. */
  killNow(): void {
    for (const entry of this.#entries) {
      const pid = entry.pid?.();
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
