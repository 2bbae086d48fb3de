/**
 * A real redis-server for tests: loopback only, a free port, no persistence, a temporary directory,
 * stopped by PID. Redis cannot listen on port 0, so a port is found by binding a throwaway server to
 * port 0, and the start is retried on another port if someone else takes it first.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface GivenRedis {
  /** `redis://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** PID of the running server, undefined while it is down. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** FLUSHALL (and SCRIPT FLUSH is not implied). Call it before each test, never after. */
  flush(): Promise<void>;
  /** Sends one command and returns the raw first line of the reply, e.g. `+OK` or `:42`. */
  command(...args: string[]): Promise<string>;
  /** Graceful stop (SIGTERM, SIGKILL if it lingers) and removal of the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** Simulates a crash: SIGKILL, and wait for the exit. */
  kill(): Promise<void>;
  /** Starts again on the same port (killing the current server first if there is one). */
  restart(): Promise<void>;
}

export interface GivenRedisOptions {
  /** Default `redis-server` from PATH (Debian installs /usr/bin/redis-server). */
  readonly binary?: string;
  /** How long a start may take before it fails. Default 10 s. */
  readonly startDeadlineMs?: number;
}

class PortTakenError extends Error {}

/** Starts a redis-server; the caller stops it with `stop()` in `after`. */
export async function givenRedis(options: GivenRedisOptions = {}): Promise<GivenRedis> {
  const binary = options.binary ?? 'redis-server';
  const deadlineMs = options.startDeadlineMs ?? 10_000;
  const dir = await mkdtemp(path.join(tmpdir(), 'zt-redis-'));
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const child = await startServer(binary, port, dir, deadlineMs);
      return new RedisProcess(binary, port, dir, deadlineMs, child);
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt >= 5) {
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
}

class RedisProcess implements GivenRedis {
  readonly url: string;
  private stopped = false;
  private readonly killOnExit = (): void => {
    // A test run that dies must not leave a server behind.
    if (this.child.pid !== undefined && isAlive(this.child)) process.kill(this.child.pid, 'SIGKILL');
  };

  constructor(
    private readonly binary: string,
    readonly port: number,
    private readonly dir: string,
    private readonly deadlineMs: number,
    private child: ChildProcess,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
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
    if (reply !== '+OK') throw new Error(`FLUSHALL answered ${reply}`);
  }

  command(...args: string[]): Promise<string> {
    return sendCommand(this.port, args, 2000);
  }

  async kill(): Promise<void> {
    await signalAndWait(this.child, 'SIGKILL', this.deadlineMs);
  }

  async restart(): Promise<void> {
    if (this.stopped) throw new Error('redis was stopped for good; start a new one');
    await signalAndWait(this.child, 'SIGKILL', this.deadlineMs);
    this.child = await startServer(this.binary, this.port, this.dir, this.deadlineMs);
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
        await signalAndWait(this.child, 'SIGKILL', this.deadlineMs);
      }
    }
    process.off('exit', this.killOnExit);
    await rm(this.dir, { recursive: true, force: true });
  }
}

function isAlive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function startServer(binary: string, port: number, dir: string, deadlineMs: number): Promise<ChildProcess> {
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--logfile', ''];
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
  const deadline = Date.now() + deadlineMs;
  while (Date.now() < deadline) {
    if (failure !== undefined) throw new Error(`cannot run ${binary}: ${failure.message}`);
    if (!isAlive(child)) {
      if (/address already in use/i.test(output)) throw new PortTakenError(`port ${port} is taken`);
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) during start:\n${output}`);
    }
    const reply = await sendCommand(port, ['PING'], 500).catch(() => undefined);
    if (reply === '+PONG') return child;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await signalAndWait(child, 'SIGKILL', 5000).catch(() => undefined);
  throw new Error(`redis-server on port ${port} did not answer PING within ${deadlineMs} ms:\n${output}`);
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

/** Asks the kernel for a free loopback port. Racy by nature; the caller retries on EADDRINUSE. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('no port from the kernel'))));
    });
  });
}

/** A minimal RESP client: one command, the first line of the reply. Enough for PING and FLUSHALL. */
function sendCommand(port: number, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    let reply = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no reply within ${timeoutMs} ms`)));
    socket.once('error', reject);
    socket.on('data', (chunk: Buffer) => {
      reply += chunk.toString('utf8');
      const end = reply.indexOf('\r\n');
      if (end >= 0) {
        socket.end();
        resolve(reply.slice(0, end));
      }
    });
    socket.once('close', () => reject(new Error('connection closed before a reply')));
    socket.write(encode(args));
  });
}

function encode(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const a of args) out += `$${Buffer.byteLength(a)}\r\n${a}\r\n`;
  return out;
}

/**
 * The mocha hooks of a suite that shares one redis-server: started before the suite, stopped after
 * it, started again before a test if an earlier one killed it, and flushed before each test (never
 * after, so a failing test leaves its data to look at). Returns the server of the running suite.
 */
export function useRedis(): () => GivenRedis {
  let redis: GivenRedis | undefined;
  const current = (): GivenRedis => {
    if (redis === undefined) throw new Error('useRedis(): the suite has not started its redis-server yet');
    return redis;
  };
  before(async () => {
    redis = await givenRedis();
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
