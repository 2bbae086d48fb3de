/**
 * The figures of `bench/edge.ts`: rounds of each stack and phase folded into one row, the ratios
 * the issue asks about, and the table. Pure: no processes, no files.
 */
import type { AttackResult } from './vegeta.js';
import { STACK_NAMES, type StackKey } from './edge-stacks.js';

/** One measured phase of one round. */
export interface PhaseRun {
  readonly stack: StackKey;
  /** `max`, or a fixed rate per second. */
  readonly phase: string;
  readonly result: AttackResult;
  /** CPU µs each server process spent during the phase. */
  readonly cpuUs: Readonly<Record<string, number>>;
  readonly newConnections: number;
  readonly tlsHandshakes: number;
}

/** One stack and phase over every round. */
export interface Row {
  readonly stack: StackKey;
  readonly phase: string;
  readonly requests: number;
  /** Answers (any status) per second over the measured time. */
  readonly answered_per_s: number;
  readonly ok_per_s: number;
  /** Latencies over every round's requests (vegeta's merged report). */
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly status_codes: Record<string, number>;
  readonly errors: string[];
  /** Server CPU per answered request, µs, by process, and their sum. */
  readonly cpu_us_per_req: Record<string, number>;
  readonly server_cpu_us_per_req: number;
  readonly loadgen_cpu_us_per_req: number;
  readonly new_connections: number;
  readonly tls_handshakes: number;
}

const r1 = (n: number): number => Math.round(n * 10) / 10;
const r3 = (n: number): number => Math.round(n * 1000) / 1000;

/** Folds the rounds of one stack and phase; `merged` is vegeta's report over all their results. */
export function foldRounds(runs: readonly PhaseRun[], merged: AttackResult): Row {
  const first = runs[0];
  if (first === undefined) throw new Error('no runs to fold');
  const requests = runs.reduce((s, r) => s + r.result.requests, 0);
  const seconds = runs.reduce((s, r) => s + (r.result.answered_per_s > 0 ? r.result.requests / r.result.answered_per_s : 0), 0);
  const ok = runs.reduce((s, r) => s + (r.result.answered_per_s > 0 ? (r.result.throughput * r.result.requests) / r.result.answered_per_s : 0), 0);
  const cpu: Record<string, number> = {};
  for (const r of runs) for (const [name, us] of Object.entries(r.cpuUs)) cpu[name] = (cpu[name] ?? 0) + us;
  const perReq = Object.fromEntries(Object.entries(cpu).map(([name, us]) => [name, r1(us / Math.max(1, requests))]));
  return {
    stack: first.stack,
    phase: first.phase,
    requests,
    answered_per_s: r1(seconds > 0 ? requests / seconds : 0),
    ok_per_s: r1(seconds > 0 ? ok / seconds : 0),
    p50_ms: merged.p50_ms,
    p99_ms: merged.p99_ms,
    status_codes: merged.status_codes,
    errors: merged.errors,
    cpu_us_per_req: perReq,
    server_cpu_us_per_req: r1(Object.values(cpu).reduce((a, b) => a + b, 0) / Math.max(1, requests)),
    loadgen_cpu_us_per_req: r1(runs.reduce((s, r) => s + r.result.loadgen_cpu_us, 0) / Math.max(1, requests)),
    new_connections: runs.reduce((s, r) => s + r.newConnections, 0),
    tls_handshakes: runs.reduce((s, r) => s + r.tlsHandshakes, 0),
  };
}

/** The issue's goals, as ratios from one run (reported, never asserted). */
export interface Goals {
  readonly max_rps_project_over_floor: number | null;
  readonly max_rps_project_over_references: number | null;
  readonly p99_at_1000_project_over_floor: number | null;
  /** (project - floor) / (references - floor), server CPU per request at the CPU phase. */
  readonly added_cpu_project_over_references: number | null;
  readonly added_cpu_us_per_req: Partial<Record<'project' | 'references', number>>;
  readonly cpu_phase: string;
}

export function goalsOf(rows: readonly Row[], cpuPhase: string): Goals {
  const at = (stack: StackKey, phase: string): Row | undefined => rows.find((r) => r.stack === stack && r.phase === phase);
  const ratio = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined || b === 0 ? null : r3(a / b));
  const cpu = (s: StackKey): number | undefined => at(s, cpuPhase)?.server_cpu_us_per_req;
  const floorCpu = cpu('floor');
  const added = (s: StackKey): number | undefined => {
    const c = cpu(s);
    return c === undefined || floorCpu === undefined ? undefined : r1(c - floorCpu);
  };
  const addedProject = added('project');
  const addedRefs = added('references');
  return {
    max_rps_project_over_floor: ratio(at('project', 'max')?.answered_per_s, at('floor', 'max')?.answered_per_s),
    max_rps_project_over_references: ratio(at('project', 'max')?.answered_per_s, at('references', 'max')?.answered_per_s),
    p99_at_1000_project_over_floor: ratio(at('project', '1000/s')?.p99_ms, at('floor', '1000/s')?.p99_ms),
    added_cpu_project_over_references: ratio(addedProject, addedRefs),
    added_cpu_us_per_req: { ...(addedProject === undefined ? {} : { project: addedProject }), ...(addedRefs === undefined ? {} : { references: addedRefs }) },
    cpu_phase: cpuPhase,
  };
}

const statusMix = (codes: Record<string, number>): string => {
  const total = Object.values(codes).reduce((a, b) => a + b, 0);
  return Object.entries(codes)
    .sort()
    .map(([c, n]) => `${c}:${((n / Math.max(1, total)) * 100).toFixed(1)}%`)
    .join(' ');
};

/** The table: one line per stack and phase, then each process's CPU per request. */
export function renderTable(rows: readonly Row[]): string {
  const col = (s: string | number, w: number): string => String(s).padStart(w);
  const lines = [`${'stack'.padEnd(54)}${col('phase', 7)}${col('req/s', 8)}${col('2xx/s', 8)}${col('p50 ms', 11)}${col('p99 ms', 11)}${col('CPU µs/req', 11)}${col('vegeta µs', 10)}${col('new TLS', 8)}  status mix`];
  for (const r of rows) {
    lines.push(
      `${STACK_NAMES[r.stack].padEnd(54)}${col(r.phase, 7)}${col(Math.round(r.answered_per_s), 8)}${col(Math.round(r.ok_per_s), 8)}${col(r.p50_ms.toFixed(1), 11)}${col(r.p99_ms.toFixed(1), 11)}${col(Math.round(r.server_cpu_us_per_req), 11)}${col(Math.round(r.loadgen_cpu_us_per_req), 10)}${col(r.tls_handshakes, 8)}  ${statusMix(r.status_codes)}`,
    );
  }
  lines.push('', 'server CPU per request by process (µs):');
  for (const r of rows) lines.push(`  ${r.stack.padEnd(11)}${r.phase.padStart(7)}  ${Object.entries(r.cpu_us_per_req).map(([n, us]) => `${n} ${us}`).join(', ')}`);
  return lines.join('\n');
}

export function renderGoals(g: Goals): string {
  const show = (v: number | null, goal: string): string => (v === null ? `n/a (goal ${goal})` : `${v} (goal ${goal})`);
  return [
    `max req/s, project / floor:       ${show(g.max_rps_project_over_floor, '>= 0.7')}`,
    `max req/s, project / references:  ${show(g.max_rps_project_over_references, '>= 3.5')}`,
    `p99 at 1000/s, project / floor:   ${show(g.p99_at_1000_project_over_floor, '<= 2')}`,
    `added server CPU/req over the floor at ${g.cpu_phase}, project / references: ${show(g.added_cpu_project_over_references, '<= 0.15')} (project ${g.added_cpu_us_per_req.project ?? 'n/a'} µs, references ${g.added_cpu_us_per_req.references ?? 'n/a'} µs)`,
  ].join('\n');
}
