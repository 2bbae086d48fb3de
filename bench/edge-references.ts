/**
 * The references' policy layer for `bench/edge.ts`: opa-envoy-plugin (OPA with Envoy's gRPC
 * ext_authz server, bench/reference/envoy-authz.rego over the project's own Rego and data) and
 * envoyproxy/ratelimit with its own redis-server. Both are built from their public sources (the Go
 * module proxy does not serve them): OPA_ENVOY_BIN and RATELIMIT_BIN name the binaries, and the
 * README says how to build them. This Redis is plaintext and has no users (how ratelimit is
 * usually deployed beside Envoy); the project's Redis speaks only mTLS with ACL users.
 */
import { access, constants, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort } from '../src/shared/listen.js';
import { StackChild } from '../src/stack/child.js';
import { REPO_ROOT, watchdogLaunch, type Runtime } from '../src/stack/launcher.js';
import { ORPHAN_GUARD_ENV } from '../src/stack/parent-watch.js';
import { httpReady, waitUntilReady } from '../src/stack/ready.js';
import { RATELIMIT_DOMAIN } from './envoy-copy.js';
import { AUDIENCE, ISSUER } from './edge-workload.js';
import { startPlaintextRedis, type PlaintextRedis } from './plaintext-redis.js';

export const REFERENCES_BUILD = 'see README, "Performance": git clone and go build opa-envoy-plugin (OPA_ENVOY_BIN) and envoyproxy/ratelimit (RATELIMIT_BIN)';

/** Why the references cannot run, or undefined when both binaries are there. */
export async function referencesMissing(opaEnvoyBin: string | undefined, ratelimitBin: string | undefined): Promise<string | undefined> {
  const why: string[] = [];
  for (const [name, bin] of [
    ['OPA_ENVOY_BIN', opaEnvoyBin],
    ['RATELIMIT_BIN', ratelimitBin],
  ] as const) {
    if (bin === undefined) why.push(`${name} is not set`);
    else if (!(await access(bin, constants.X_OK).then(() => true, () => false))) why.push(`${name}=${bin} is not an executable`);
  }
  return why.length === 0 ? undefined : why.join(', ');
}

export interface References {
  readonly opaGrpcPort: number;
  readonly ratelimitGrpcPort: number;
  /** Server processes by name, for the CPU count. */
  readonly pids: Readonly<Record<string, number>>;
  stop(): Promise<void>;
}

export interface ReferencesOptions {
  readonly opaEnvoyBin: string;
  readonly ratelimitBin: string;
  /** A directory the caller owns and removes. */
  readonly dir: string;
  /** The bench policy data (the project's shape). */
  readonly dataPath: string;
  readonly jwksPath: string;
  readonly runtime: Runtime;
  readonly deadline: number;
}

/** The ratelimit service's config: the policy's three buckets, raised as the bench raises the policy's. */
function ratelimitConfig(): string {
  return `domain: ${RATELIMIT_DOMAIN}
descriptors:
  - key: generic_key
    value: global
    rate_limit: { unit: second, requests_per_unit: 10000000 }
  - key: tenant
    rate_limit: { unit: minute, requests_per_unit: 600000000 }
    descriptors:
      - key: user
        rate_limit: { unit: second, requests_per_unit: 10000000 }
`;
}

export async function startReferences(o: ReferencesOptions): Promise<References> {
  const children: StackChild[] = [];
  let redis: PlaintextRedis | undefined;
  const stop = async (): Promise<void> => {
    for (const c of children) await c.stop(5000);
    await redis?.stop();
  };
  const env = { ...process.env, [ORPHAN_GUARD_ENV]: String(process.pid) };
  const spawnUnderWatchdog = async (name: string, command: string, args: string[], extraEnv: NodeJS.ProcessEnv = {}): Promise<StackChild> => {
    const child = await StackChild.start({ name, ...watchdogLaunch({ command, args }, o.runtime), env: { ...env, ...extraEnv }, cwd: REPO_ROOT }, () => undefined);
    children.push(child);
    return child;
  };
  try {
    redis = await startPlaintextRedis(o.dir);
    const [rlHttp, rlGrpc, rlDebug, opaHttp, opaGrpc] = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];

    const runtimeRoot = join(o.dir, 'ratelimit-runtime');
    await mkdir(join(runtimeRoot, 'ratelimit', 'config'), { recursive: true });
    await writeFile(join(runtimeRoot, 'ratelimit', 'config', `${RATELIMIT_DOMAIN}.yaml`), ratelimitConfig());
    const ratelimit = await spawnUnderWatchdog('ratelimit', o.ratelimitBin, [], {
      USE_STATSD: 'false',
      LOG_LEVEL: 'warn',
      BACKEND_TYPE: 'redis',
      REDIS_SOCKET_TYPE: 'tcp',
      REDIS_URL: `127.0.0.1:${redis.port}`,
      RUNTIME_ROOT: runtimeRoot,
      RUNTIME_SUBDIRECTORY: 'ratelimit',
      RUNTIME_WATCH_ROOT: 'false',
      RUNTIME_IGNOREDOTFILES: 'true',
      HOST: '127.0.0.1',
      PORT: String(rlHttp),
      GRPC_HOST: '127.0.0.1',
      GRPC_PORT: String(rlGrpc),
      DEBUG_HOST: '127.0.0.1',
      DEBUG_PORT: String(rlDebug),
    });

    // The project's data, plus what the reference policy verifies tokens with.
    const data = JSON.parse(await readFile(o.dataPath, 'utf8')) as Record<string, unknown>;
    data.reference = { jwks: await readFile(o.jwksPath, 'utf8'), issuer: ISSUER, audience: AUDIENCE };
    const refData = join(o.dir, 'reference-data.json');
    await writeFile(refData, JSON.stringify(data));
    const opaConfig = join(o.dir, 'opa-envoy.yaml');
    await writeFile(opaConfig, `plugins:\n  envoy_ext_authz_grpc:\n    addr: 127.0.0.1:${opaGrpc}\n    path: envoy/authz/result\n    dry-run: false\n    enable-reflection: false\ndecision_logs:\n  console: false\n`);
    const rego = (await readdir(join(REPO_ROOT, 'policies'))).filter((f) => f.endsWith('.rego') && !f.endsWith('_test.rego')).map((f) => join(REPO_ROOT, 'policies', f));
    const opa = await spawnUnderWatchdog('opa-envoy', o.opaEnvoyBin, [
      'run',
      '--server',
      '--addr',
      `127.0.0.1:${opaHttp}`,
      '--diagnostic-addr',
      `127.0.0.1:${await freePort()}`,
      '--log-level',
      'error',
      '--config-file',
      opaConfig,
      ...rego,
      join(REPO_ROOT, 'bench', 'reference', 'envoy-authz.rego'),
      refData,
    ]);
    await waitUntilReady(ratelimit, `ratelimit http://127.0.0.1:${rlHttp}/healthcheck`, httpReady(`http://127.0.0.1:${rlHttp}/healthcheck`), o.deadline);
    await waitUntilReady(opa, `opa-envoy http://127.0.0.1:${opaHttp}/health?plugins`, httpReady(`http://127.0.0.1:${opaHttp}/health?plugins`), o.deadline);
    return {
      opaGrpcPort: opaGrpc,
      ratelimitGrpcPort: rlGrpc,
      pids: { 'opa-envoy': opa.pid, ratelimit: ratelimit.pid, 'redis (ratelimit, plaintext)': redis.pid ?? 0 },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
