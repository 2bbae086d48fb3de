/**
 * A real redis-server for tests, started by the one launcher (src/stack/redis-server.ts): TLS only,
 * client certificates from a test PKI required, the `default` user off and the PKI's ACL users
 * (authz, rating-api, cert-rotator, redis). Loopback only, a free port, no persistence, a temporary
 * directory, stopped by PID. Redis cannot listen on port 0, so a port is found by binding a
 * throwaway server to port 0, and the start is retried on another port if someone else takes it
 * first.
 *
 * The PKI is the default test PKI unless one is given. Every default test PKI is a copy of one
 * template (given-pki.ts), so clients of any default PKI (givenAuthz's, givenStack's) share its CA
 * and passwords and can sign in to this Redis.
 *
 * One more user exists in a test Redis only: `zt-test-harness`, with every right, for what a test
 * does around the service under test (FLUSHALL before each test, DBSIZE, reading what a store
 * wrote). Its line is appended to a copy of the PKI's ACL file; the services never use it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { passwordHash } from '../../src/pki/redis-acl.js';
import { ROTATOR_WORKLOAD } from '../../src/pki/redis-sync.js';
import { REDIS_SERVER_WORKLOAD } from '../../src/shared/pki/pki-layout.js';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { freePort } from '../../src/shared/listen.js';
import { redisTlsOptions, type RedisServer } from '../../src/shared/redis-client.js';
import { withRedisSession } from '../../src/shared/redis-session.js';
import { WorkloadTls } from '../../src/shared/tls/workload-tls.js';
import { redisReady, redisServerArgs } from '../../src/stack/redis-server.js';
import { givenPki, type TestPki } from './given-pki.js';

/** The test-only user with every right (see the file's comment). */
export const HARNESS_USER = 'zt-test-harness';

export interface GivenRedis {
  /** `rediss://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** The URL and Redis's SPIFFE ID, as a service's config carries them. */
  readonly server: RedisServer;
  /** The PKI whose CA, Redis certificate and ACL users this server runs with. */
  readonly pki: TestPki;
  /** PID of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** FLUSHALL (and SCRIPT FLUSH is not implied). Call it before each test, never after. */
  flush(): Promise<void>;
  /** One command as the harness user, on a new connection; the reply as ioredis returns it. */
  command(...args: string[]): Promise<unknown>;
  /** A client signed in as the harness user, for reading around a store; the caller disconnects it. */
  harness(): Promise<Redis>;
  /** A workload's certificate and password from this server's PKI, for createRedisClient. */
  identity(workload: string): Promise<WorkloadTls>;
  /** Graceful stop (SIGTERM, SIGKILL if it lingers) and removal of the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Simulates a crash: SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port (killing the current server first if there is one), with the PKI's ACL file as it is now. */
  restart(): Promise<void>;
}

export interface GivenRedisOptions {
  /** Default `redis-server` from PATH (Debian installs /usr/bin/redis-server). */
  readonly binary?: string;
  /** How long a start may take before it fails. Default 10 s. */
  readonly startDeadlineMs?: number;
  /** Default: a fresh default test PKI, removed by `stop()`. */
  readonly pki?: TestPki;
}

class PortTakenError extends Error {}

/** Starts a redis-server; the caller stops it with `stop()` in `after`. */
export async function givenRedis(options: GivenRedisOptions = {}): Promise<GivenRedis> {
  const binary = options.binary ?? 'redis-server';
  const deadlineMs = options.startDeadlineMs ?? 10_000;
  const pki = options.pki ?? (await givenPki());
  const ownPki = options.pki === undefined;
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-redis-'));
  const harnessPassword = randomBytes(24).toString('base64url');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const launch: Launch = { binary, port, dir, deadlineMs, pki, harnessPassword };
    try {
      const child = await startServer(launch);
      return new RedisProcess(launch, child, ownPki);
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= 5) {
        await rm(dir, { recursive: true, force: true });
        if (ownPki) await pki.cleanup();
        throw err;
      }
    }
  }
}

interface Launch {
  readonly binary: string;
  readonly port: number;
  readonly dir: string;
  readonly deadlineMs: number;
  readonly pki: TestPki;
  readonly harnessPassword: string;
}

class RedisProcess implements GivenRedis {
  readonly url: string;
  readonly port: number;
  readonly server: RedisServer;
  readonly pki: TestPki;
  private stopped = false;
  private readonly killOnExit = (): void => {
    // A test run that dies must not leave a server behind.
    if (this.child.pid !== undefined && isAlive(this.child)) process.kill(this.child.pid, 'SIGKILL');
  };

  constructor(
    private readonly launch: Launch,
    private child: ChildProcess,
    private readonly ownPki: boolean,
  ) {
    this.port = launch.port;
    this.pki = launch.pki;
    this.url = `rediss://127.0.0.1:${launch.port}`;
    this.server = serverOf(launch);
    process.on('exit', this.killOnExit);
  }

  get pid(): number | undefined {
    return isAlive(this.child) ? this.child.pid : undefined;
  }

  get running(): boolean {
    return isAlive(this.child);
  }

  async flush(): Promise<void> {
    const reply = await this.command('FLUSHALL');
    if (reply !== 'OK') throw new Error(`FLUSHALL answered ${String(reply)}`);
  }

  async command(...args: string[]): Promise<unknown> {
    const [name = '', ...rest] = args;
    const m = await readWorkloadMaterial(this.pki.layout, ROTATOR_WORKLOAD);
    return withRedisSession(this.server, { cert: m.certPem, key: m.keyPem, ca: m.caPem }, { user: HARNESS_USER, password: this.launch.harnessPassword }, ({ client }) => client.call(name, ...rest));
  }

  async harness(): Promise<Redis> {
    const m = await readWorkloadMaterial(this.pki.layout, ROTATOR_WORKLOAD);
    const client = new Redis({
      host: '127.0.0.1',
      port: this.port,
      tls: redisTlsOptions({ cert: m.certPem, key: m.keyPem, ca: m.caPem }, this.server),
      username: HARNESS_USER,
      password: this.launch.harnessPassword,
      enableReadyCheck: false,
      disableClientInfo: true,
      maxRetriesPerRequest: 1,
    });
    // Reconnect failures while a test has Redis down are expected; the test's own assertions speak.
    client.on('error', () => undefined);
    return client;
  }

  async identity(workload: string): Promise<WorkloadTls> {
    return WorkloadTls.load(this.pki.dir, workload);
  }

  async kill(): Promise<void> {
    await signalAndWait(this.child, 'SIGKILL', this.launch.deadlineMs);
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error('redis was stopped for good; start a new one');
    await signalAndWait(this.child, 'SIGKILL', this.launch.deadlineMs);
    this.child = await startServer(this.launch);
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (isAlive(this.child) && this.child.pid !== undefined) {
      // A paused (SIGSTOP) server would sit on SIGTERM until resumed.
      process.kill(this.child.pid, 'SIGCONT');
      try {
        await signalAndWait(this.child, 'SIGTERM', 5000);
      } catch {
        await signalAndWait(this.child, 'SIGKILL', this.launch.deadlineMs);
      }
    }
    process.off('exit', this.killOnExit);
    await rm(this.launch.dir, { recursive: true, force: true });
    if (this.ownPki) await this.pki.cleanup();
  }
}

function serverOf(launch: Launch): RedisServer {
  return { url: new URL(`rediss://127.0.0.1:${launch.port}`), spiffeId: launch.pki.spiffeId(REDIS_SERVER_WORKLOAD) };
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function startServer(launch: Launch): Promise<ChildProcess> {
  const { binary, port, dir, deadlineMs, pki, harnessPassword } = launch;
  // The PKI's ACL file as it is now, plus the harness user (a test Redis only).
  const aclFile = path.join(dir, 'users.acl');
  const users = await readFile(pki.layout.redisAcl, 'utf8');
  await writeFile(aclFile, `${users}user ${HARNESS_USER} reset on #${passwordHash(harnessPassword)} ~* &* +@all\n`, { mode: 0o600 });
  const args = redisServerArgs({ pkiDir: pki.dir, port, bind: ['127.0.0.1'], dataDir: dir, appendOnly: false, aclFile });
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  let failure: Error | undefined;
  void spawnError.then((err) => {
    failure = err;
  });
  const ready = redisReady(pki.dir, serverOf(launch));
  const deadline = Date.now() + deadlineMs;
  let lastProbe = '';
  while (Date.now() < deadline) {
    if (failure !== undefined) throw new Error(`cannot run ${binary}: ${failure.message}`);
    if (!isAlive(child)) {
      if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} is taken`);
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) during start:\n${output}`);
    }
    if (await ready().catch((err: Error) => ((lastProbe = err.message), false))) return child;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await signalAndWait(child, 'SIGKILL', 5000).catch(() => undefined);
  throw new Error(`redis-server on port ${port} did not answer PING over mTLS within ${deadlineMs} ms (${lastProbe}):\n${output}`);
}

async function signalAndWait(child: ChildProcess, signal: NodeJS.Signals, deadlineMs: number): Promise<void> {
  if (!isAlive(child) || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.kill(child.pid, signal);
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), deadlineMs);
  });
  const outcome = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (outcome === 'timeout') throw new Error(`redis-server ${child.pid} did not exit on ${signal}`);
}

/**
 * The mocha hooks of a suite that shares one redis-server: started before the suite, stopped after
 * it, started again before a test if an earlier one killed it, and flushed before each test (never
 * after, so a failing test leaves its data to look at). Returns the server of the running suite.
 */
export function useRedis(options: GivenRedisOptions = {}): () => GivenRedis {
  let redis: GivenRedis | undefined;
  const current = (): GivenRedis => {
    if (redis === undefined) throw new Error('useRedis(): the suite has not started its redis-server yet');
    return redis;
  };
  before(async () => {
    redis = await givenRedis(options);
  });
  after(async () => {
    await redis?.stop();
  });
  beforeEach(async () => {
    if (!current().running) await current().restart();
    await current().flush();
  });
  return current;
}
