/**
 * A summary of a V8 .cpuprofile (what `node --cpu-prof` writes): self time per function and per
 * module, from each node's sample count and the profile's sampling interval. Used by
 * `bench/edge.ts --profile` and `bench/rating.ts --cpu-prof`.
 */
import { z } from 'zod';

const Profile = z.object({
  nodes: z.array(
    z.object({
      id: z.number(),
      callFrame: z.object({ functionName: z.string(), url: z.string(), lineNumber: z.number() }),
      hitCount: z.number().optional(),
      children: z.array(z.number()).optional(),
    }),
  ),
  startTime: z.number(),
  endTime: z.number(),
  samples: z.array(z.number()).optional(),
  timeDeltas: z.array(z.number()).optional(),
});

/**
 * A time window on the monotonic clock V8 stamps samples with (CLOCK_MONOTONIC on Linux, the clock
 * of `process.hrtime`), in µs: the measured phase, without start-up and warm-up.
 */
export interface Window {
  readonly fromUs: number;
  readonly toUs: number;
}

/** One function's or one module's share of a profile. */
export interface SelfTime {
  /**
   * A function: `name (file:line)`, the file relative to the repository when it is inside it. A
   * module: a package (`express`, `@open-policy-agent/opa-wasm`), a repository file, a Node
   * internal (`node:internal/streams`) or `(native)`.
   */
  readonly name: string;
  readonly self_ms: number;
  /** Of the profile's samples that were not idle. */
  readonly share: number;
}

export interface ProfileSummary {
  readonly duration_ms: number;
  /** Time not idle: what the process spent working. */
  readonly busy_ms: number;
  /** The functions with the most self time, most first. */
  readonly functions: SelfTime[];
  /** The same time by the module its functions live in, most first. */
  readonly modules: SelfTime[];
}

/** Node's frames that are not functions: idle is waiting, the rest (program, GC) is work. */
const IDLE = '(idle)';

function label(frame: { functionName: string; url: string; lineNumber: number }, root: string): string {
  const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
  if (frame.url === '') return name;
  const url = frame.url.replace(/^file:\/\//, '');
  const file = url.startsWith(root) ? url.slice(root.length).replace(/^\//, '') : url.replace(/^.*node_modules\//, 'node_modules/');
  return `${name} (${file}:${frame.lineNumber + 1})`;
}

/** The module a frame's function lives in (see {@link SelfTime.name}). */
function moduleOf(url: string, root: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const [scope = '', name = ''] = path.slice(nm + '/node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  if (path.startsWith('node:')) return path.split('/').slice(0, 2).join('/');
  return path.startsWith(root) ? path.slice(root.length).replace(/^\//, '') : path;
}

/**
 * For a native frame (a stream write, a hash: no script of its own), ` <- ` the nearest caller
 * outside Node's internals, so that a write is told apart by who writes (a logger or an HTTP
 * response). Empty for a JavaScript frame.
 */
function via(id: number, frame: { url: string }, parent: ReadonlyMap<number, number>, byId: ReadonlyMap<number, { callFrame: { functionName: string; url: string; lineNumber: number } }>, root: string): string {
  if (frame.url !== '') return '';
  for (let up = parent.get(id); up !== undefined; up = parent.get(up)) {
    const f = byId.get(up)?.callFrame;
    if (f !== undefined && f.url !== '' && !f.url.startsWith('node:')) return ` <- ${label(f, root)}`;
  }
  return '';
}

/**
 * The `limit` functions and modules with the most self time in `json` (a .cpuprofile's text), over
 * `window` when given (else the whole profile). Time per sample is the window's duration over its
 * sample count; a function's self time sums over every node that has its frame (the same function
 * reached by different call paths).
 */
export function summariseCpuProfile(json: string, root: string, limit = 12, window?: Window): ProfileSummary {
  const p = Profile.parse(JSON.parse(json));
  const hits = new Map<number, number>();
  const samples = p.samples ?? [];
  const deltas = p.timeDeltas ?? [];
  const from = Math.max(p.startTime, window?.fromUs ?? -Infinity);
  const to = Math.min(p.endTime, window?.toUs ?? Infinity);
  if (samples.length > 0) {
    // Each sample's timestamp is the start time plus the deltas so far (V8's monotonic µs).
    let at = p.startTime;
    samples.forEach((id, i) => {
      at += deltas[i] ?? 0;
      if (at >= from && at <= to) hits.set(id, (hits.get(id) ?? 0) + 1);
    });
  } else {
    for (const n of p.nodes) hits.set(n.id, n.hitCount ?? 0);
  }
  const total = [...hits.values()].reduce((a, b) => a + b, 0);
  const durationMs = Math.max(0, to - from) / 1000;
  const perSample = total === 0 ? 0 : durationMs / total;
  const byFn = new Map<string, number>();
  const byModule = new Map<string, number>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  let idle = 0;
  for (const n of p.nodes) {
    const h = hits.get(n.id) ?? 0;
    if (n.callFrame.functionName === IDLE) {
      idle += h;
      continue;
    }
    const key = label(n.callFrame, root) + via(n.id, n.callFrame, parent, byId, root);
    byFn.set(key, (byFn.get(key) ?? 0) + h);
    const mod = moduleOf(n.callFrame.url, root);
    byModule.set(mod, (byModule.get(mod) ?? 0) + h);
  }
  const busy = total - idle;
  const rank = (m: ReadonlyMap<string, number>): SelfTime[] =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, limit)
      .map(([name, h]) => ({ name, self_ms: Math.round(h * perSample * 10) / 10, share: busy === 0 ? 0 : Math.round((h / busy) * 1000) / 1000 }));
  return { duration_ms: Math.round(durationMs), busy_ms: Math.round(busy * perSample), functions: rank(byFn), modules: rank(byModule) };
}
