// Small helpers for the anchors' child processes: spawned with argument arrays (never a shell),
// ended politely then by force, and awaited so no server outlives the bench.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A spawned child and a promise of its exit (also on a spawn error, as code null). */
export interface OwnedChild {
  readonly child: ChildProcess;
  readonly exited: Promise<ChildExit>;
  /** Idempotent: SIGTERM, SIGKILL after killTimeoutMs, resolves once the process is gone. */
  stop(killTimeoutMs?: number): Promise<ChildExit>;
}

const SETPRIV = '/usr/bin/setpriv';

function hasSetpriv(): boolean {
  try {
    accessSync(SETPRIV, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export interface OwnedSpawnOptions extends SpawnOptions {
  /**
   * Have the kernel send the child SIGTERM if this process dies without closing it (SIGKILL, or
   * tsx's CLI killing a busy child on Ctrl-C): util-linux setpriv --pdeathsig, which then execs
   * the command (same pid). Without setpriv the child is spawned as is.
   */
  dieWithParent?: boolean;
}

export function spawnOwned(command: string, args: readonly string[], options: OwnedSpawnOptions = {}): OwnedChild {
  const { dieWithParent, ...spawnOptions } = options;
  const [cmd, argv] = dieWithParent && hasSetpriv() ? [SETPRIV, ['--pdeathsig', 'TERM', '--', command, ...args]] : [command, [...args]];
  const child = spawn(cmd, argv, { ...spawnOptions, shell: false });
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', () => resolve({ code: null, signal: null }));
  });
  let stopping: Promise<ChildExit> | null = null;
  return {
    child,
    exited,
    stop(killTimeoutMs = 3000) {
      stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), killTimeoutMs);
          const exit = await exited;
          clearTimeout(timer);
          return exit;
        }
        return exited;
      })();
      return stopping;
    },
  };
}

/** Runs a command to completion with inherited stdio (so the user sees what it does); ended if signal aborts. */
export async function runVisible(command: string, args: readonly string[], options: { env?: NodeJS.ProcessEnv; signal?: AbortSignal } = {}): Promise<number | null> {
  console.error(`$ ${[command, ...args].join(' ')}`);
  const owned = spawnOwned(command, args, { stdio: ['ignore', 'inherit', 'inherit'], env: options.env ?? process.env });
  const stop = (): void => void owned.stop();
  options.signal?.addEventListener('abort', stop, { once: true });
  const exit = await owned.exited;
  options.signal?.removeEventListener('abort', stop);
  return exit.code;
}
