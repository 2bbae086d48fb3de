/**
 * CPU time of server processes from /proc, for the benches: `utime + stime` of a process and of
 * every process under it (Envoy and redis-server run under the stack's watchdog, so a stack child's
 * pid is the watchdog's; the tree is what the process costs). Linux only.
 */
import { readdir, readFile } from 'node:fs/promises';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ, 100 on every Linux the project runs on). */
const TICKS_PER_S = 100;

/** The fields of one /proc/<pid>/stat line the benches read. */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly ppid: number;
  /** utime + stime, in µs. */
  readonly cpuUs: number;
}

/**
 * Parses one /proc/<pid>/stat line. The command name sits in parentheses and may itself hold spaces
 * and parentheses, so the fields after it are counted from the last `)`.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`not a /proc/<pid>/stat line: ${line.slice(0, 60)}`);
  // After ") ": state(3) ppid(4) ... utime(14) stime(15), so index 0 is field 3.
  const rest = line.slice(close + 2).split(' ');
  const field = (n: number): number => {
    const v = Number(rest[n - 3]);
    if (!Number.isFinite(v)) throw new Error(`/proc/<pid>/stat field ${n} is not a number: ${line.slice(0, 60)}`);
    return v;
  };
  return { pid: Number(line.slice(0, open).trim()), comm: line.slice(open + 1, close), ppid: field(4), cpuUs: ((field(14) + field(15)) * 1_000_000) / TICKS_PER_S };
}

/** Every live process's stat, by pid (processes that exit while being read are skipped). */
async function allStats(): Promise<Map<number, ProcStat>> {
  const out = new Map<number, ProcStat>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const text = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => undefined);
    if (text !== undefined) out.set(Number(name), parseProcStat(text));
  }
  return out;
}

/** CPU µs of `root` and its descendants in `stats`, and the names of the processes counted. */
export function treeCpu(stats: ReadonlyMap<number, ProcStat>, root: number): { cpuUs: number; comms: string[] } {
  const children = new Map<number, number[]>();
  for (const s of stats.values()) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s.pid]);
  let cpuUs = 0;
  const comms: string[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const s = stats.get(pid);
    if (s === undefined) continue;
    cpuUs += s.cpuUs;
    comms.push(s.comm);
    queue.push(...(children.get(pid) ?? []));
  }
  return { cpuUs, comms };
}

/** A snapshot of the CPU µs of each named process tree. */
export async function cpuSnapshot(roots: Readonly<Record<string, number>>): Promise<Record<string, number>> {
  const stats = await allStats();
  return Object.fromEntries(Object.entries(roots).map(([name, pid]) => [name, treeCpu(stats, pid).cpuUs]));
}

/** CPU time of one process (not its children), in µs: for a single-process server. */
export async function pidCpuUs(pid: number): Promise<number> {
  return parseProcStat(await readFile(`/proc/${pid}/stat`, 'utf8')).cpuUs;
}
