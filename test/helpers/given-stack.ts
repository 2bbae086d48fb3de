import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Agent } from 'node:https';
import supertest from 'supertest';
import { mintToken, type TokenClaims } from '../../src/pki/token.js';
import { x5tS256 } from '../../src/shared/pki/cert-thumbprint.js';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { portsOf, workloadNamed } from '../../src/shared/topology.js';
import { startStack, type RunningStack, type StackOptions } from '../../src/stack/stack.js';
import { givenPki, type TestPki } from './given-pki.js';
import { REPO_ROOT } from './run-script.js';
import { ENVOY_LISTENER_PORT, startSandboxedEnvoy, type SandboxedEnvoy } from './sandboxed-envoy.js';
import { createTestNetwork, type TestNetwork } from './test-network.js';

export type Region = 'us-east' | 'eu-central';

/** Which edge stands in front: the dev edge (Node, `npm start`), or the real Envoy on the shipped config. */
export type EdgeKind = 'dev' | 'envoy';

/** Both edges, for suites that run once per edge with the same assertions. */
export const EDGE_KINDS: readonly EdgeKind[] = ['dev', 'envoy'];

const REGIONS: readonly Region[] = ['us-east', 'eu-central'];

/** Where a test reaches something over TLS: an address, and the name its certificate carries. */
export interface Address {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
}

/** The embedded stack, started by a test in a temp PKI, with request helpers for its edges. */
export interface TestStack {
  readonly kind: EdgeKind;
  readonly stack: RunningStack;
  readonly pki: TestPki;
  /** Every line the children and the runner printed, in order (an Envoy's lines are in `envoy()`). */
  readonly lines: string[];
  edgeAddress(region: Region): Address;
  serviceAddress(service: 'authz' | 'rating'): Address;
  /** The real Envoy of a region, when `kind` is `envoy`. */
  envoy(region: Region): SandboxedEnvoy | undefined;
  /**
   * The edge's access log line of a request, by its request id, once written (an edge writes it
   * when the response is done). The dev edge and Envoy write the same JSON fields; values Envoy
   * prints as `-` read as null here.
   */
  accessLine(region: Region, requestId: string): Promise<Record<string, unknown>>;
  /**
   * A fresh ES256 token (alice's claims unless overridden), bound (RFC 8705 cnf) to the current
   * certificate of `bindTo`: by default the client `client-<sub>` when the PKI has one, else
   * `client-alice`, the client `edge()` presents by default. `null` mints an unbound token.
   */
  token(claims?: Partial<TokenClaims>, ttlMs?: number, bindTo?: string | null): Promise<string>;
  /** supertest against an edge, presenting `client`'s certificate (a workload of the PKI). */
  edge(region: Region, client?: string): Promise<EdgeClient>;
  stop(): Promise<void>;
}

export interface EdgeClient {
  get(path: string): supertest.Test;
  post(path: string): supertest.Test;
  del(path: string): supertest.Test;
  put(path: string): supertest.Test;
  /** The agent's keep-alive sockets, destroyed on stop. */
  readonly agent: Agent;
}

export const ALICE: TokenClaims = { sub: 'alice', tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'enterprise' };
export const BOB: TokenClaims = { sub: 'bob', tenant: 'globex', roles: ['rater'], region: 'eu-central', tier: 'starter' };

export interface GivenStackOptions extends Pick<StackOptions, 'redis' | 'rotateIntervalMs' | 'env'> {
  /** Default `dev`. */
  readonly edge?: EdgeKind;
  /**
   * Tenant settings over policies/data.json's, written to a copy the stack's authz reads
   * (POLICY_DATA). By default acme is on the enterprise tier (6,000 a minute instead of the demo's
   * 60), so that suites sending hundreds of requests as acme users test the path, not the tenant
   * bucket; the tier rule itself is tested with the shipped data (test/e2e/hardening.test.ts).
   */
  readonly tenants?: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
}

const DEFAULT_TENANTS = { acme: { tier: 'enterprise' } };

/** policies/data.json with `tenants` merged over its tenants, written beside the test PKI. */
async function policyDataFor(pki: TestPki, tenants: Readonly<Record<string, Readonly<Record<string, unknown>>>>): Promise<string> {
  const data = JSON.parse(await readFile(join(REPO_ROOT, 'policies', 'data.json'), 'utf8')) as { tenants: Record<string, Record<string, unknown>> };
  for (const [name, patch] of Object.entries(tenants)) data.tenants[name] = { ...data.tenants[name], ...patch };
  const file = join(dirname(pki.configFile), 'policy-data.json');
  await writeFile(file, JSON.stringify(data, null, 2));
  return file;
}

/**
 * Starts the stack as `npm start` does, in a fresh PKI. With the dev edge everything listens on
 * free loopback ports. With Envoy, each region's Envoy runs envoy/envoy.yaml and envoy/sds/ byte
 * for byte in a network and mount namespace of its own (as a compose container would), and authz
 * and the rating API listen where that config sends them: ports 9443 and 7443 on the address
 * `authz` and `rating-api` resolve to inside the sandboxes, the test network's bridge.
 */
export async function givenStack(options: GivenStackOptions = {}): Promise<TestStack> {
  const kind = options.edge ?? 'dev';
  const pki = await givenPki();
  const lines: string[] = [];
  let net: TestNetwork | undefined;
  let stack: RunningStack | undefined;
  const envoys = new Map<Region, SandboxedEnvoy>();
  const teardown = async (): Promise<void> => {
    await Promise.all([...envoys.values()].map((e) => e.stop()));
    await stack?.stop();
    await net?.close();
    await pki.cleanup();
  };
  try {
    net = kind === 'envoy' ? await createTestNetwork(REGIONS) : undefined;
    stack = await startStack({
      pkiDir: pki.dir,
      pkiConfig: pki.configFile,
      // Free ports, so suites never collide; but with Envoy the services listen where envoy.yaml's
      // clusters send traffic (the topology's ports, on the test network's own address).
      ports: net === undefined ? { base: 'free' } : { base: 'free', authz: { listen: topologyPort(pki, 'authz') }, rating: { listen: topologyPort(pki, 'rating-api') } },
      ...(net === undefined ? {} : { serviceHost: net.bridgeIp, edges: 'none' as const }),
      rotateIntervalMs: options.rotateIntervalMs ?? 0,
      output: (line) => lines.push(line),
      readyTimeoutMs: 120_000,
      ...(options.redis === undefined ? {} : { redis: options.redis }),
      env: { POLICY_DATA: await policyDataFor(pki, options.tenants ?? DEFAULT_TENANTS), ...options.env },
    });
    if (net !== undefined) {
      const network = net;
      const hosts = { authz: network.bridgeIp, 'rating-api': network.bridgeIp };
      await Promise.all(
        REGIONS.map(async (region) => {
          envoys.set(region, await startSandboxedEnvoy({ host: network.host(region), edgePki: join(pki.dir, `edge-${region}`), hosts }));
        }),
      );
    }
  } catch (err) {
    process.stderr.write(`${lines.slice(-40).join('\n')}\n`);
    await teardown();
    throw err;
  }
  const running = stack;
  const network = net;
  const agents: Agent[] = [];
  const edgeAddress = (region: Region): Address => {
    if (network !== undefined) return { host: network.host(region).ip, port: ENVOY_LISTENER_PORT, servername: 'localhost' };
    return { host: '127.0.0.1', port: running.ports.edges[region]?.listen ?? 0, servername: 'localhost' };
  };
  return {
    kind,
    stack: running,
    pki,
    lines,
    edgeAddress,
    serviceAddress: (service) => ({
      host: network?.bridgeIp ?? '127.0.0.1',
      port: service === 'authz' ? running.ports.authz.listen : running.ports.rating.listen,
      servername: service === 'authz' ? 'authz' : 'rating-api',
    }),
    envoy: (region) => envoys.get(region),
    async accessLine(region, requestId) {
      const deadline = Date.now() + 5000;
      for (;;) {
        const source = envoys.get(region)?.lines ?? childJson(lines, `edge-${region}`);
        const found = accessLines(source).find((l) => l.request_id === requestId);
        if (found !== undefined) return found;
        if (Date.now() > deadline) throw new Error(`no ${kind} edge access line for request ${requestId} in ${region}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    async token(claims = {}, ttlMs = 10 * 60_000, bindTo?: string | null) {
      const all = { ...ALICE, ...claims };
      const workload = bindTo === undefined ? (pki.spec.workloads.has(`client-${all.sub}`) ? `client-${all.sub}` : 'client-alice') : bindTo;
      const boundTo = workload === null ? undefined : x5tS256((await readWorkloadMaterial(pki.layout, workload)).leaf);
      return mintToken(pki.layout, all, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs, maxTtlMs: pki.spec.jwt.maxTokenTtlMs, ...(boundTo === undefined ? {} : { boundTo }) });
    },
    async edge(region, client = 'client-alice') {
      const { cert, key, ca } = await pki.tls(client);
      const at = edgeAddress(region);
      // A keep-alive pool, as a real client holds: concurrent requests share a few connections
      // instead of each paying a full mTLS handshake. Leaves carry DNS SANs only, hence the name.
      const agent = new Agent({ keepAlive: true, maxSockets: 16, cert, key, ca, servername: at.servername });
      agents.push(agent);
      const base = supertest(`https://${at.host}:${at.port}`);
      const over = (t: supertest.Test): supertest.Test => t.agent(agent).ca(ca).cert(cert).key(key);
      return {
        agent,
        get: (path) => over(base.get(path)),
        post: (path) => over(base.post(path)),
        del: (path) => over(base.delete(path)),
        put: (path) => over(base.put(path)),
      };
    },
    async stop() {
      for (const a of agents) a.destroy();
      await teardown();
    },
  };
}

/** A workload's listen port in the test PKI's topology (a copy of pki/workloads.yaml). */
function topologyPort(pki: TestPki, workload: string): number {
  return portsOf(workloadNamed(pki.spec, workload), pki.spec.file).listen;
}

/** The ratings path of an item of a tenant. */
export function ratingsPath(item: string, tenant = 'acme'): string {
  return `/v1/tenants/${tenant}/items/${item}/ratings`;
}

/** The raw lines a child of the stack printed (the stack prefixes each with `<name> | `). */
export function childJson(lines: readonly string[], child: string): string[] {
  const out: string[] = [];
  for (const line of lines) {
    const bar = line.indexOf(' | ');
    if (bar !== -1 && line.slice(0, bar).trim() === child) out.push(line.slice(bar + 3));
  }
  return out;
}

/** The access log lines among `lines`, parsed, with Envoy's `-` for "no value" read as null. */
function accessLines(lines: readonly string[]): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of lines) {
    if (!line.startsWith('{')) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.msg !== 'access') continue;
      for (const [k, v] of Object.entries(parsed)) if (v === '-') parsed[k] = null;
      out.push(parsed);
    } catch {
      // not JSON
    }
  }
  return out;
}
