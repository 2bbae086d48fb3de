/**
 * The embedded stack: the PKI initialised if missing, the policy built if missing, then authz, the
 * rating API and both edges (dev edges, or real Envoys running a local copy of envoy/envoy.yaml)
 * and a local redis-server when asked, as child processes on loopback, each waited on through its
 * readiness endpoint, with the certificate rotation on a timer. Any child that dies takes the
 * stack down; `stop()` stops every child, edges first.
 */
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { initPki } from '../pki/authority.js';
import { errorMessage } from '../shared/errors.js';
import { freePort } from '../shared/listen.js';
import { PkiLayout, REDIS_SERVER_WORKLOAD } from '../shared/pki/pki-layout.js';
import type { RedisServer } from '../shared/redis-client.js';
import { withPkiLock } from '../pki/lock.js';
import type { RotateSummary } from '../pki/rotate.js';
import { loadTopology, workloadNamed, type Topology } from '../shared/topology.js';
import { banner, type BannerInput } from './banner.js';
import { StackChild, type ChildExit } from './child.js';
import { findEnvoy, type EnvoyInstall } from './envoy-bin.js';
import { prepareEnvoyEdge } from './envoy-edge.js';
import { chooseRuntime, REPO_ROOT, serviceLaunch, watchdogLaunch, type Runtime, type Service } from './launcher.js';
import { ORPHAN_GUARD_ENV } from './parent-watch.js';
import { httpReady, waitUntilReady } from './ready.js';
import { policyStaleness } from './policy-build.js';
import { redisReady, redisServerArgs } from './redis-server.js';
import { createRotator } from './rotation.js';
import { prepareServiceUsers, type ServiceUser } from './service-users.js';
import { resolvePorts, type PortChoice, type StackPorts } from './stack-ports.js';

export type { StackPorts } from './stack-ports.js';

export interface StackOptions {
  /** Where the PKI lives (created if missing). Default `pki/out` of the repo. */
  readonly pkiDir?: string;
  /** Where the root key lives (ZT_PKI_ROOT_DIR). Default `<pkiDir>/root`. */
  readonly pkiRootDir?: string;
  /** The PKI declaration. Default `pki/workloads.yaml` of the repo. */
  readonly pkiConfig?: string;
  readonly trustDomain?: string;
  /** Which ports: the topology's (pki/workloads.yaml) by default, or free ones; see {@link PortChoice}. */
  readonly ports?: PortChoice;
  /**
   * `{ url }` uses that Redis (`rediss://host:port`); `'local'` starts a TLS-only redis-server with
   * the PKI's ACL file on a free port; unset: memory stores.
   */
  readonly redis?: { readonly url: string } | 'local';
  /**
   * As root, each child runs as its own user from this uid up (see service-users.ts); 0 runs every
   * child as the runner. Default 64100.
   */
  readonly uidBase?: number;
  /** How often the rotation runs; 0 turns it off. Default 60 s. */
  readonly rotateIntervalMs?: number;
  readonly logLevel?: string;
  /** ENVOY_BIN, for `edges: 'envoy'`. Default `.venv/bin/envoy`. */
  readonly envoyBin?: string;
  /** `auto` (default) runs dist/ when it is fresh, else tsx. */
  readonly runtime?: Runtime | 'auto';
  /** Receives every line: children's output prefixed with their name, and the runner's own. */
  readonly output?: (line: string) => void;
  /** How long the whole start may take. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /** How long a child gets between SIGTERM and SIGKILL. Default 5 s. */
  readonly stopGraceMs?: number;
  /** Extra environment for every child (e.g. RATE_LIMIT_FAILURE_MODE). */
  readonly env?: NodeJS.ProcessEnv;
  /** Where authz and the rating API listen. Default 127.0.0.1. */
  readonly serviceHost?: string;
  /** Which edges front the services; see {@link EdgeKind}. Default `dev`. */
  readonly edges?: EdgeKind;
  /** Extra node options per service, before the service's own (a bench's `--cpu-prof`). */
  readonly nodeArgs?: Readonly<Partial<Record<Service, readonly string[]>>>;
}

/**
 * `dev`: both dev edges (src/edge/, the Node stand-in). `envoy`: both as real Envoys (ENVOY_BIN),
 * each running a copy of envoy/envoy.yaml and envoy/sds/ in which only addresses, ports and paths
 * differ (envoy-local-config.ts); the stack fails before starting anything when Envoy is missing.
 * `none`: only the services behind them, for a caller that runs its own edges (the tests run the
 * shipped Envoy config in namespaces).
 */
export type EdgeKind = 'dev' | 'envoy' | 'none';

/** Why the stack came down. */
export type StackExit = { readonly reason: 'stopped' } | { readonly reason: 'child_exited'; readonly child: ChildExit };

export interface RunningStack {
  readonly ports: StackPorts;
  readonly host: string;
  /** Absolute. */
  readonly pkiDir: string;
  readonly redisUrl: string | undefined;
  /** Whether each child runs as its own user (see service-users.ts). */
  readonly isolated: boolean;
  readonly runtime: Runtime;
  readonly edges: EdgeKind;
  /** The Envoy the edges run, when `edges` is `envoy`. */
  readonly envoy: EnvoyInstall | undefined;
  /** The pid of every child by name (an Envoy edge's is that of the watchdog it runs under). */
  readonly pids: Readonly<Record<string, number>>;
  /** Resolves once every child has exited, saying why. */
  readonly exited: Promise<StackExit>;
  /** The ready banner with ports and curl commands. */
  banner(): string;
  /** One rotation now, exactly as the stack's timer runs it (Redis kept in step when the stack has one). */
  rotate(options?: { readonly force?: boolean; readonly forceJwt?: boolean }): Promise<RotateSummary>;
  /** Stops every child (SIGTERM, SIGKILL after the grace) and the rotation. Idempotent. */
  stop(): Promise<void>;
}

const HOST = '127.0.0.1';
/** STACK_UID_BASE's default: the first uid a child gets when the stack runs as root. */
export const DEFAULT_UID_BASE = 64100;
const ENVOY_YAML = join(REPO_ROOT, 'envoy', 'envoy.yaml');
const POLICY_WASM = join(REPO_ROOT, 'policies', 'build', 'policy.wasm');
const POLICY_DATA = join(REPO_ROOT, 'policies', 'data.json');
/** Settings a child must never inherit from the runner's environment: each is set per child. */
const PER_CHILD = ['ZT_WORKLOAD', 'EDGE_REGION', 'EDGE_LISTEN', 'EDGE_ADMIN_LISTEN', 'AUTHZ_URL', 'RATING_URL', 'RATING_AUTHZ_URL', 'REDIS_URL'];

/** Starts the whole stack and resolves once every service is ready. */
export async function startStack(options: StackOptions = {}): Promise<RunningStack> {
  const say = options.output ?? ((line: string) => process.stdout.write(`${line}\n`));
  const note = (line: string): void => say(`${'stack'.padEnd(15)} | ${line}`);
  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  const grace = options.stopGraceMs ?? 5000;
  const pkiDir = resolve(options.pkiDir ?? join(REPO_ROOT, 'pki', 'out'));
  const pkiConfig = resolve(options.pkiConfig ?? join(REPO_ROOT, 'pki', 'workloads.yaml'));
  const edges = options.edges ?? 'dev';
  // Children inherit the runner's environment (PATH, JWT_*, RATE_LIMIT_*...), minus what is per child.
  const inherited: NodeJS.ProcessEnv = { ...process.env, ...options.env };
  // Before anything is written or started: a missing Envoy is one line saying how to install it.
  const envoy = edges === 'envoy' ? await findEnvoy(options.envoyBin ?? '.venv/bin/envoy', inherited.PATH) : undefined;

  const layout = new PkiLayout(pkiDir, options.pkiRootDir);
  const spec = loadTopology(pkiConfig, options.trustDomain);
  const init = await withPkiLock(layout, () => initPki(layout, spec), { wait: true });
  note(init.changed ? `PKI: created ${init.created.join(', ')} in ${pkiDir}` : `PKI: using ${pkiDir}`);
  const { runtime, why } = await chooseRuntime(options.runtime ?? 'auto');
  note(`running ${runtime === 'dist' ? 'node dist/<svc>/main.js' : 'node --import tsx src/<svc>/main.ts'}: ${why}`);
  const ports = await resolvePorts(spec, options.ports ?? {}, HOST);
  const serviceHost = options.serviceHost ?? HOST;

  const children: StackChild[] = [];
  let redisDir: string | undefined;
  let envoyDir: string | undefined;
  let stopRotation: (() => Promise<void>) | undefined;
  let stopping: Promise<void> | undefined;
  let settle: (exit: StackExit) => void = () => undefined;
  /** The first child that exited unasked: during start, the cause of what the others report. */
  let firstExit: { readonly child: StackChild; readonly how: string } | undefined;
  const exited = new Promise<StackExit>((r) => {
    settle = r;
  });

  const stop = (why: StackExit = { reason: 'stopped' }): Promise<void> => {
    stopping ??= (async () => {
      await stopRotation?.();
      // Edges first, so nothing new comes in while the services behind them go; Redis last.
      const stage = (c: StackChild): number => (c.name.startsWith('edge-') ? 0 : c.name === 'redis' ? 2 : 1);
      for (const n of [0, 1, 2]) await Promise.all(children.filter((c) => stage(c) === n).map((c) => c.stop(grace)));
      for (const dir of [redisDir, envoyDir]) if (dir !== undefined) await rm(dir, { recursive: true, force: true });
      settle(why);
    })();
    return stopping;
  };

  // Every child reads the same PKI and the same topology (identities, default ports) as the runner.
  const baseEnv: NodeJS.ProcessEnv = { ...inherited, ZT_PKI_DIR: pkiDir, ZT_PKI_CONFIG: pkiConfig, [ORPHAN_GUARD_ENV]: String(process.pid) };
  for (const name of PER_CHILD) delete baseEnv[name];
  if (options.trustDomain !== undefined) baseEnv.ZT_TRUST_DOMAIN = options.trustDomain;
  if (options.logLevel !== undefined) baseEnv.LOG_LEVEL = options.logLevel;

  // Each child runs as the user of its workload (as root), so that it can read only its own key.
  const edgeWorkloads = edges === 'none' ? [] : Object.keys(ports.edges).map((region) => `edge-${region}`);
  const workloads = ['authz', 'rating-api', ...edgeWorkloads, ...(options.redis === 'local' ? [REDIS_SERVER_WORKLOAD] : [])];
  const shared = [inherited.POLICY_WASM ?? POLICY_WASM, inherited.POLICY_DATA ?? POLICY_DATA, pkiConfig, ...(edges === 'dev' ? [inherited.ENVOY_CONFIG ?? ENVOY_YAML] : [])];
  // Before the users: they are handed the policy wasm among the shared files, so it must exist.
  await ensurePolicy(inherited, say);
  const users = await withPkiLock(layout, () => prepareServiceUsers(layout, spec, options.uidBase ?? DEFAULT_UID_BASE, workloads, shared), { wait: true });
  note(`isolation: ${users.description}`);

  const spawnChild = async (name: string, launch: { command: string; args: readonly string[] }, env: NodeJS.ProcessEnv, user?: ServiceUser): Promise<StackChild> => {
    const child = await StackChild.start({ name, ...launch, env, cwd: REPO_ROOT, user }, say);
    children.push(child);
    void child.exited.then((exit) => {
      if (exit.requested || stopping !== undefined) return;
      // The first such exit starts the stop, so no later one gets here.
      firstExit = { child, how: exit.signal ?? `code ${exit.code}` };
      note(`${name} exited (${firstExit.how}); stopping the stack`);
      void stop({ reason: 'child_exited', child: exit });
    });
    return child;
  };

  try {
    let redis: RedisServer | undefined;
    if (options.redis === 'local') {
      const port = await portApartFrom(ports);
      const dir = await mkdtemp(join(tmpdir(), 'zt-stack-redis-'));
      redisDir = dir;
      const user = users.of(REDIS_SERVER_WORKLOAD);
      if (user !== undefined) await chown(dir, user.uid, user.gid);
      const args = redisServerArgs({ pkiDir, port, bind: [HOST], dataDir: dir, appendOnly: false });
      redis = redisServerOf(spec, `rediss://${HOST}:${port}`);
      const child = await spawnChild('redis', watchdogLaunch({ command: 'redis-server', args }, runtime), baseEnv, user);
      await waitUntilReady(child, `PING as user ${REDIS_SERVER_WORKLOAD} over mTLS on ${port}`, redisReady(pkiDir, redis), deadline);
    } else if (options.redis !== undefined) {
      redis = redisServerOf(spec, options.redis.url);
    }
    const redisUrl = redis?.url.href.replace(/\/$/, '');
    const withRedis: NodeJS.ProcessEnv = redisUrl === undefined ? baseEnv : { ...baseEnv, REDIS_URL: redisUrl };

    const svc = (service: Service, name: string, workload: string, env: NodeJS.ProcessEnv, adminPort: number): Promise<void> =>
      spawnChild(name, serviceLaunch(service, runtime, REPO_ROOT, options.nodeArgs?.[service]), env, users.of(workload)).then((c) => waitUntilReady(c, `http://${HOST}:${adminPort}/readyz`, httpReady(`http://${HOST}:${adminPort}/readyz`), deadline));
    await Promise.all([
      svc('authz', 'authz', 'authz', { ...withRedis, AUTHZ_LISTEN: `${serviceHost}:${ports.authz.listen}`, AUTHZ_ADMIN_LISTEN: `${HOST}:${ports.authz.admin}`, POLICY_WASM: inherited.POLICY_WASM ?? POLICY_WASM, POLICY_DATA: inherited.POLICY_DATA ?? POLICY_DATA }, ports.authz.admin),
      svc(
        'rating',
        'rating',
        'rating-api',
        { ...withRedis, RATING_LISTEN: `${serviceHost}:${ports.rating.listen}`, RATING_ADMIN_LISTEN: `${HOST}:${ports.rating.admin}`, RATING_AUTHZ_URL: `https://${connectHost(serviceHost)}:${ports.authz.listen}` },
        ports.rating.admin,
      ),
    ]);
    const edgeEnv = (region: string, port: number, admin: number): NodeJS.ProcessEnv => ({
      ...baseEnv,
      EDGE_REGION: region,
      EDGE_LISTEN: `${HOST}:${port}`,
      EDGE_ADMIN_LISTEN: `${HOST}:${admin}`,
      AUTHZ_URL: `https://${serviceHost}:${ports.authz.listen}`,
      RATING_URL: `https://${serviceHost}:${ports.rating.listen}`,
      ENVOY_CONFIG: inherited.ENVOY_CONFIG ?? ENVOY_YAML,
    });
    if (edges === 'dev') {
      await Promise.all([
        ...Object.entries(ports.edges).map(([region, p]) => svc('edge', `edge-${region}`, `edge-${region}`, edgeEnv(region, p.listen, p.admin), p.admin)),
      ]);
    } else if (envoy !== undefined) {
      const dir = await mkdtemp(join(tmpdir(), 'zt-stack-envoy-'));
      envoyDir = dir;
      // The edges' own users read their generated configs (nothing secret: paths and addresses).
      if (users.enabled) await chmod(dir, 0o755);
      const upstream = connectHost(serviceHost);
      const envoyEdge = async (region: string, port: number, admin: number): Promise<void> => {
        const plan = await prepareEnvoyEdge({ region, listen: { host: HOST, port }, adminPort: admin, authz: { host: upstream, port: ports.authz.listen }, rating: { host: upstream, port: ports.rating.listen }, pkiDir, dir, envoy, runtime, logLevel: baseEnv.LOG_LEVEL });
        const child = await spawnChild(`edge-${region}`, plan.launch, baseEnv, users.of(`edge-${region}`));
        await waitUntilReady(child, `${plan.readyUrl} LIVE`, plan.ready, deadline);
      };
      await Promise.all(Object.entries(ports.edges).map(([region, p]) => envoyEdge(region, p.listen, p.admin)));
      note(`Envoy ${envoy.version} (${envoy.bin}) runs the generated copies of envoy/envoy.yaml in ${dir}`);
    }

    const rotator = createRotator(layout, spec, redis, (line) => say(`${'rotate'.padEnd(15)} | ${line}`));
    const intervalMs = options.rotateIntervalMs ?? 60_000;
    if (intervalMs > 0) stopRotation = rotator.every(intervalMs);

    const bannerInput: BannerInput = {
      ports,
      homeRegion: workloadNamed(spec, 'client-alice').region,
      host: HOST,
      pkiDir,
      pkiConfig,
      repoRoot: REPO_ROOT,
      redis: redisUrl === undefined ? 'in-memory stores (no Redis)' : `Redis at ${redisUrl} (TLS only, client certificates, one ACL user per service)`,
      isolation: users.description,
      runtime: runtime === 'dist' ? 'compiled, from dist/' : 'from src/ through tsx',
      edge: edgeDescription(edges, envoy, envoyDir),
      pids: Object.fromEntries(children.map((c) => [c.name, c.pid])),
    };
    return {
      ports,
      host: HOST,
      pkiDir,
      redisUrl,
      isolated: users.enabled,
      runtime,
      edges,
      envoy,
      pids: Object.freeze(Object.fromEntries(children.map((c) => [c.name, c.pid]))),
      exited,
      banner: () => banner(bannerInput),
      rotate: (o) => rotator.runOnce(o),
      stop: () => stop(),
    };
  } catch (err) {
    await stop();
    // A child that exits stops the stack, and a sibling stopped that way can be the one whose
    // readiness check reports first ("edge-us-east exited", when edge-eu-central could not listen).
    if (firstExit !== undefined && !errorMessage(err).startsWith(`${firstExit.child.name} `)) {
      throw new Error(`${firstExit.child.name} exited during start (${firstExit.how}), and the stack was stopped; its last output:\n${firstExit.child.tail()}`, { cause: err });
    }
    throw err;
  }
}

/** A free port that is none of the stack's own (chosen, but not listened on yet). */
async function portApartFrom(ports: StackPorts): Promise<number> {
  const taken = new Set([...Object.values(ports.edges), ports.authz, ports.rating].flatMap((p) => [p.listen, p.admin]));
  for (;;) {
    const port = await freePort(HOST);
    if (!taken.has(port)) return port;
  }
}

/** Redis at `url`, whose certificate must carry the topology's `redis` SPIFFE ID. */
function redisServerOf(spec: Topology, url: string): RedisServer {
  return { url: new URL(url), spiffeId: workloadNamed(spec, REDIS_SERVER_WORKLOAD).spiffeId };
}

/** Where an edge connects to a service that listens on `listen`: a wildcard is reached on loopback. */
function connectHost(listen: string): string {
  return listen === '0.0.0.0' || listen === '::' || listen === '' ? HOST : listen;
}

/** The banner's line saying which edges run. */
function edgeDescription(edges: EdgeKind, envoy: EnvoyInstall | undefined, dir: string | undefined): string {
  if (edges === 'none') return 'none started (the caller runs its own)';
  if (envoy === undefined) return 'dev edges (node src/edge/, the stand-in for Envoy); --edge envoy runs the real one';
  return `Envoy ${envoy.version} from ENVOY_BIN (${envoy.bin}), running envoy/envoy.yaml with local addresses, ports and paths (copies in ${dir ?? '?'})`;
}

/** Builds the policy wasm when it is missing or older than a policy source (it is never committed). */
async function ensurePolicy(env: NodeJS.ProcessEnv, say: (line: string) => void): Promise<void> {
  if (env.POLICY_WASM !== undefined) return;
  const stale = await policyStaleness(join(REPO_ROOT, 'policies'), POLICY_WASM);
  if (stale === undefined) return;
  say(`${'stack'.padEnd(15)} | building the policy: ${stale}`);
  // The build script lives in scripts/, so it runs through tsx whichever runtime the services use.
  const launch = { command: process.execPath, args: ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'build-policy.ts')] };
  const child = await StackChild.start({ name: 'build-policy', ...launch, env, cwd: REPO_ROOT }, say);
  const exit = await child.exited;
  if (exit.code !== 0) throw new Error(`building the policy failed (npm run build:policy runs the pinned OPA CLI, or Go to fetch it); its output:\n${child.tail()}`);
}
