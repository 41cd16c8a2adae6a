// What both load-test modes (viewers, publish cycles) get from loadtest-run.ts, and what they return.
import { readFile } from 'node:fs/promises';
import { parseSystemCpu } from './loadtest-proc.js';
import { sleep } from './measure.js';
import type { Cleanup } from './cleanup.js';

export interface RunContext {
  /** Aborted on Ctrl-C or when something the run depends on dies. */
  signal: AbortSignal;
  /** Stop the run with a reason (first reason wins). */
  fail(reason: string): void;
  /** Any wait, cut short when the run is stopped. */
  step<T>(p: Promise<T>): Promise<T>;
  cleanup: Cleanup;
  /** The command as a user types it, for the report. */
  command: string;
}

export interface RunOutput {
  /** File name stem, e.g. loadtest-viewers. */
  name: string;
  /** Printed to stdout (Markdown tables, so it can go into BENCHMARKS.md as is). */
  text: string;
  json: unknown;
  html: string;
}

/** Share of all CPUs busy over the next second, %, or null where /proc/stat is unreadable. */
export async function cpuBusyPct(): Promise<number | null> {
  const read = (): Promise<{ busy: number; total: number } | null> => readFile('/proc/stat', 'utf8').then(parseSystemCpu, () => null);
  const a = await read();
  await sleep(1000);
  const b = await read();
  if (!a || !b || b.total <= a.total) return null;
  return (100 * (b.busy - a.busy)) / (b.total - a.total);
}
