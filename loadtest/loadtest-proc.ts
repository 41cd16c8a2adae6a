// Reading other processes from /proc (Linux), for the load test: CPU time and RSS of the origin,
// edge and console child processes (and of the load test itself, whose viewers compete with them
// for the same cores), system-wide CPU, and ffmpeg processes under a parent.
// The parsers are pure (text in, numbers out); ProcSampler wires them to a 1 s timer.
import { readFile, readdir } from 'node:fs/promises';

/** Clock ticks per second for /proc/<pid>/stat times: 100 on every Linux this runs on (getconf CLK_TCK). */
export const CLOCK_TICKS_PER_S = 100;

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** utime + stime of the process (all its threads), in clock ticks. */
  cpuTicks: number;
}

/** Parses /proc/<pid>/stat (comm may contain spaces and parentheses: split at the last ')'). */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] = state (field 3), rest[1] = ppid (4), rest[11] = utime (14), rest[12] = stime (15)
  const utime = Number(rest[11]);
  const stime = Number(rest[12]);
  const pid = Number(text.slice(0, open).trim());
  if (!Number.isFinite(utime) || !Number.isFinite(stime) || !Number.isInteger(pid)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? '?', ppid: Number(rest[1]), cpuTicks: utime + stime };
}

/** VmRSS from /proc/<pid>/status, in bytes; null if absent (a zombie has none). */
export function parseRssBytes(status: string): number | null {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : null;
}

/** The first line of /proc/stat as [busy, total] jiffies (idle and iowait are not busy). */
export function parseSystemCpu(stat: string): { busy: number; total: number } | null {
  const first = stat.split('\n', 1)[0] ?? '';
  if (!first.startsWith('cpu ')) return null;
  const v = first.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export async function readProcStat(pid: number): Promise<ProcStat | null> {
  return readFile(`/proc/${pid}/stat`, 'utf8').then(parseProcStat, () => null);
}

export async function readRssBytes(pid: number): Promise<number | null> {
  return readFile(`/proc/${pid}/status`, 'utf8').then(parseRssBytes, () => null);
}

/** The run-queue wait of one task from /proc/<pid>/task/<tid>/schedstat (field 2), ns. */
export function parseSchedstatWaitNs(text: string): number | null {
  const v = Number(text.trim().split(/\s+/)[1]);
  return Number.isFinite(v) ? v : null;
}

/** Run-queue wait (ns) of every thread of a process, by tid; empty if unreadable. */
export async function readThreadWaits(pid: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const tids = await readdir(`/proc/${pid}/task`).catch(() => [] as string[]);
  await Promise.all(
    tids.map(async (tid) => {
      const wait = await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').then(parseSchedstatWaitNs, () => null);
      if (wait !== null) out.set(Number(tid), wait);
    }),
  );
  return out;
}

/** Every live (non-zombie) process, from one pass over /proc. */
export async function listProcesses(): Promise<ProcStat[]> {
  const entries = await readdir('/proc').catch(() => [] as string[]);
  const out: ProcStat[] = [];
  await Promise.all(
    entries
      .filter((e) => /^\d+$/.test(e))
      .map(async (e) => {
        const s = await readProcStat(Number(e));
        if (s && s.state !== 'Z') out.push(s);
      }),
  );
  return out;
}

/** Pids of the processes named `comm` below `ancestor` (children, grandchildren, ...). */
export function descendantsNamed(processes: readonly ProcStat[], ancestor: number, comm: string): number[] {
  const children = new Map<number, ProcStat[]>();
  for (const p of processes) {
    const list = children.get(p.ppid);
    if (list) list.push(p);
    else children.set(p.ppid, [p]);
  }
  const out: number[] = [];
  const stack = [ancestor];
  const seen = new Set<number>();
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (seen.has(pid)) continue;
    seen.add(pid);
    for (const child of children.get(pid) ?? []) {
      if (child.comm === comm) out.push(child.pid);
      stack.push(child.pid);
    }
  }
  return out.sort((a, b) => a - b);
}

/** ffmpeg processes below `pid` right now. */
export async function ffmpegDescendants(pid: number): Promise<number[]> {
  return descendantsNamed(await listProcesses(), pid, 'ffmpeg');
}

/** Which of these pids still exist (not zombies), whoever their parent is now. */
export async function stillAlive(pids: Iterable<number>): Promise<number[]> {
  const out: number[] = [];
  for (const pid of pids) {
    const s = await readProcStat(pid);
    if (s && s.state !== 'Z') out.push(pid);
  }
  return out;
}

/** One process's resource use over one sampling interval. */
export interface ProcPoint {
  /** Unix ms at the end of the interval. */
  at: number;
  /** CPU over the interval, % of one core (200 = both cores of a 2-core box). */
  cpuPct: number;
  rssMb: number;
  /**
   * Share of the interval the process's most-waiting thread spent runnable but waiting for a
   * CPU, % (schedstat run_delay): CPU starvation, which cpuPct cannot show. NaN for ffmpeg sums.
   */
  waitPct: number;
}

export interface SystemPoint {
  at: number;
  /** Share of all cores busy over the interval, %. */
  busyPct: number;
}

/**
 * Samples named pids every intervalMs: CPU % of one core from /proc/<pid>/stat deltas, RSS from
 * /proc/<pid>/status, and the whole machine from /proc/stat. A pid that is gone stops being
 * sampled. `children` names get the summed CPU and RSS of a pid's ffmpeg descendants.
 */
export class ProcSampler {
  readonly #intervalMs: number;
  readonly #pids = new Map<string, { pid: number; ffmpegOf: boolean }>();
  readonly #last = new Map<string, { at: number; ticks: number; waits: Map<number, number> }>();
  readonly series = new Map<string, ProcPoint[]>();
  readonly system: SystemPoint[] = [];
  #lastSystem: { busy: number; total: number } | null = null;
  #timer: NodeJS.Timeout | null = null;
  #sampling: Promise<void> | null = null;

  constructor(intervalMs = 1000) {
    this.#intervalMs = intervalMs;
  }

  /** Sample `pid` as `name`; with ffmpegOf, sample the sum of its ffmpeg descendants instead. */
  watch(name: string, pid: number, options: { ffmpegOf?: boolean } = {}): void {
    this.#pids.set(name, { pid, ffmpegOf: options.ffmpegOf ?? false });
    this.series.set(name, this.series.get(name) ?? []);
  }

  start(): void {
    if (this.#timer) return;
    void this.#sample(); // primes the deltas
    this.#timer = setInterval(() => void this.#sample(), this.#intervalMs);
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#sampling;
  }

  #sample(): Promise<void> {
    if (this.#sampling) return this.#sampling; // a slow pass is not overlapped
    this.#sampling = this.#pass().finally(() => (this.#sampling = null));
    return this.#sampling;
  }

  async #pass(): Promise<void> {
    const at = Date.now();
    const sys = await readFile('/proc/stat', 'utf8').then(parseSystemCpu, () => null);
    if (sys && this.#lastSystem && sys.total > this.#lastSystem.total) {
      this.system.push({ at, busyPct: (100 * (sys.busy - this.#lastSystem.busy)) / (sys.total - this.#lastSystem.total) });
    }
    this.#lastSystem = sys;
    const needAll = [...this.#pids.values()].some((p) => p.ffmpegOf);
    const all = needAll ? await listProcesses() : [];
    for (const [name, { pid, ffmpegOf }] of this.#pids) {
      let ticks = 0;
      let rss = 0;
      let waits = new Map<number, number>();
      if (ffmpegOf) {
        const pids = descendantsNamed(all, pid, 'ffmpeg');
        for (const p of pids) {
          const s = all.find((x) => x.pid === p);
          ticks += s?.cpuTicks ?? 0;
          rss += (await readRssBytes(p)) ?? 0;
        }
        // ffmpeg processes come and go: a drop in summed ticks is a process ending, not negative CPU.
      } else {
        const s = await readProcStat(pid);
        const r = await readRssBytes(pid);
        if (!s || r === null) continue;
        ticks = s.cpuTicks;
        rss = r;
        waits = await readThreadWaits(pid);
      }
      const last = this.#last.get(name);
      this.#last.set(name, { at, ticks, waits });
      if (!last || at <= last.at) continue;
      const wallS = (at - last.at) / 1000;
      const cpuPct = Math.max(0, (100 * (ticks - last.ticks)) / CLOCK_TICKS_PER_S / wallS);
      let waitPct = ffmpegOf ? Number.NaN : 0;
      for (const [tid, ns] of waits) {
        const before = last.waits.get(tid);
        if (before !== undefined) waitPct = Math.max(waitPct, (100 * (ns - before)) / 1e9 / wallS);
      }
      this.series.get(name)!.push({ at, cpuPct, rssMb: rss / (1024 * 1024), waitPct });
    }
  }
}
