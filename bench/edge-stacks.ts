/**
 * The three stacks `bench/edge.ts` compares, each behind its own real Envoy (the same binary, the
 * same listener TLS and client certificate checks, generated from envoy/envoy.yaml), all in front
 * of one rating API (its ratings in the project's Redis, over mTLS):
 *   - project: Envoy -> HTTP ext_authz -> authz (jose, opa-wasm, Redis buckets) -> rating API;
 *   - floor: Envoy -> rating API, no policy at all;
 *   - references: Envoy -> gRPC ext_authz -> opa-envoy-plugin, ratelimit filter -> envoyproxy/ratelimit
 *     (its own Redis) -> rating API.
 */
import { join } from 'node:path';
import { StackChild } from '../src/stack/child.js';
import type { EnvoyInstall } from '../src/stack/envoy-bin.js';
import { prepareEnvoyEdge } from '../src/stack/envoy-edge.js';
import { REPO_ROOT, type Service } from '../src/stack/launcher.js';
import { ORPHAN_GUARD_ENV } from '../src/stack/parent-watch.js';
import { waitUntilReady } from '../src/stack/ready.js';
import { startStack, type RunningStack } from '../src/stack/stack.js';
import { freePort } from '../src/shared/listen.js';
import { editEnvoyConfig, floorEdits, raiseBackstop, referencesEdits } from './envoy-copy.js';
import { startReferences, type References } from './edge-references.js';

export type StackKey = 'project' | 'floor' | 'references';

export const STACK_NAMES: Readonly<Record<StackKey, string>> = {
  project: 'project (Envoy -> authz -> rating)',
  floor: 'floor (Envoy -> rating, no policy)',
  references: 'references (Envoy -> opa-envoy + ratelimit -> rating)',
};

/** One stack's edge, and the server processes a request through it runs on. */
export interface BenchEdge {
  readonly key: StackKey;
  readonly port: number;
  readonly adminPort: number;
  /** Name to pid of every server process on this stack's path (a tree: Envoy under its watchdog). */
  readonly pids: Readonly<Record<string, number>>;
}

export interface Up {
  readonly edges: BenchEdge[];
  readonly stack: RunningStack;
  stop(): Promise<void>;
}

export interface UpOptions {
  readonly keys: readonly StackKey[];
  readonly work: string;
  readonly pkiDir: string;
  readonly pkiConfig: string;
  readonly dataPath: string;
  readonly jwksPath: string;
  readonly envoy: EnvoyInstall;
  readonly region: string;
  readonly references?: { readonly opaEnvoyBin: string; readonly ratelimitBin: string };
  /** Extra node options per service (`--cpu-prof`). */
  readonly nodeArgs?: Readonly<Partial<Record<Service, readonly string[]>>>;
  readonly say: (line: string) => void;
}

/** Starts the services (with Redis over mTLS, as production runs), then each asked-for stack's Envoy. */
export async function bringUp(o: UpOptions): Promise<Up> {
  const deadline = Date.now() + 90_000;
  o.say('starting authz, the rating API and Redis (mTLS, ACL users), the project\'s stores');
  const stack = await startStack({
    pkiDir: o.pkiDir,
    pkiConfig: o.pkiConfig,
    ports: { base: 'free' },
    redis: 'local',
    edges: 'none',
    rotateIntervalMs: 0,
    logLevel: 'info',
    env: { POLICY_DATA: o.dataPath },
    ...(o.nodeArgs === undefined ? {} : { nodeArgs: o.nodeArgs }),
    output: () => undefined,
  });
  const envoys: StackChild[] = [];
  let refs: References | undefined;
  const stop = async (): Promise<void> => {
    for (const e of envoys) await e.stop(5000);
    await refs?.stop();
    await stack.stop();
  };
  const pid = (name: string): number => {
    const p = stack.pids[name];
    if (p === undefined) throw new Error(`the stack reports no ${name} pid`);
    return p;
  };
  try {
    const edges: BenchEdge[] = [];
    for (const key of o.keys) {
      if (key === 'references') {
        if (o.references === undefined) throw new Error('the references need OPA_ENVOY_BIN and RATELIMIT_BIN');
        o.say('starting opa-envoy-plugin and envoyproxy/ratelimit (with its own plaintext redis-server)');
        refs = await startReferences({ ...o.references, dir: o.work, dataPath: o.dataPath, jwksPath: o.jwksPath, runtime: stack.runtime, deadline });
      }
      const [port, adminPort] = [await freePort(), await freePort()];
      const plan = await prepareEnvoyEdge({
        region: o.region,
        listen: { host: '127.0.0.1', port },
        adminPort,
        authz: { host: '127.0.0.1', port: stack.ports.authz.listen },
        rating: { host: '127.0.0.1', port: stack.ports.rating.listen },
        pkiDir: o.pkiDir,
        dir: join(o.work, `envoy-${key}`),
        envoy: o.envoy,
        runtime: stack.runtime,
        logLevel: 'info',
      });
      const references = refs;
      await editEnvoyConfig(plan.configFile, (doc) => {
        if (key === 'project') o.say(`raised: ${raiseBackstop(doc)}`);
        else if (key === 'floor') floorEdits(doc);
        else if (references !== undefined) referencesEdits(doc, { opaGrpc: references.opaGrpcPort, ratelimitGrpc: references.ratelimitGrpcPort });
      });
      o.say(`starting Envoy ${o.envoy.version} for ${STACK_NAMES[key]} on ${port}`);
      const child = await StackChild.start({ name: `envoy-${key}`, ...plan.launch, env: { ...process.env, [ORPHAN_GUARD_ENV]: String(process.pid) }, cwd: REPO_ROOT }, () => undefined);
      envoys.push(child);
      await waitUntilReady(child, `${plan.readyUrl} LIVE`, plan.ready, deadline);
      const shared = { 'rating-api': pid('rating'), redis: pid('redis') };
      const own: Record<string, number> = key === 'project' ? { authz: pid('authz') } : key === 'references' && references !== undefined ? { ...references.pids } : {};
      edges.push({ key, port, adminPort, pids: { envoy: child.pid, ...own, ...shared } });
    }
    return { edges, stack, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Envoy's counters from its admin `/stats` (text): name to value, counters and gauges only. */
export async function envoyCounters(adminPort: number): Promise<Record<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m !== null) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** Envoy's request-time histograms (`/stats?usedonly&filter=rq_time`): name to cumulative P50 and P99, ms. */
export function parseEnvoyHistograms(text: string): Record<string, { p50: number; p99: number }> {
  const out: Record<string, { p50: number; p99: number }> = {};
  for (const line of text.split('\n')) {
    const m = /^([^:]+): P0\(/.exec(line);
    if (m === null) continue;
    const q = (p: string): number => Number(new RegExp(`P${p}\\([^,]+,([^)]+)\\)`).exec(line)?.[1] ?? 'NaN');
    out[m[1]!] = { p50: q('50'), p99: q('99') };
  }
  return out;
}
