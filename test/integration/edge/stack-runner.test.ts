import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { demoCommands } from '../../../src/stack/banner.js';
import { startStack, type RunningStack, type StackOptions } from '../../../src/stack/stack.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';

/** Every port free: tests never take the well-known ones. */
const FREE_PORTS = { edgeUsEast: 0, edgeUsEastAdmin: 0, edgeEuCentral: 0, edgeEuCentralAdmin: 0, authz: 0, authzAdmin: 0, rating: 0, ratingAdmin: 0 };

/** Starting a stack builds nothing but runs four services through tsx: allow it time. */
const STACK_TIMEOUT_MS = 180_000;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until none of `pids` is alive; the deadline only bounds a failing test. */
async function allGone(pids: readonly number[], deadlineMs = 20_000): Promise<number[]> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function bash(command: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-c', command], { cwd: tmpdir(), timeout: 60_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('the embedded stack runner (startStack, npm start)', function () {
  this.timeout(STACK_TIMEOUT_MS);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-stack-test-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(options: StackOptions, lines: string[]): Promise<RunningStack> {
    return startStack({ ports: FREE_PORTS, runtime: 'tsx', rotateIntervalMs: 0, output: (l) => lines.push(l), ...options });
  }

  it('initialises a PKI in an empty directory, comes up ready, answers the banner commands as printed, and stop() leaves no child alive', async () => {
    const lines: string[] = [];
    const stack = await start({ pkiDir: join(dir, 'fresh-pki') }, lines);
    const pids = Object.values(stack.pids);
    try {
      assert.deepEqual(Object.keys(stack.pids).sort(), ['authz', 'edge-eu-central', 'edge-us-east', 'rating']);
      assert.ok(lines.some((l) => l.includes('PKI: created ca')), 'the PKI was created');
      for (const [name, port] of Object.entries(stack.ports)) {
        if (name.endsWith('Admin')) assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, name);
      }
      const text = stack.banner();
      const commands = demoCommands({ ports: stack.ports, host: stack.host, pkiDir: stack.pkiDir, pkiConfig: join(REPO_ROOT, 'pki', 'workloads.yaml'), repoRoot: REPO_ROOT, redis: '', runtime: '', pids: {} });
      assert.equal(commands.length, 3);
      for (const c of commands) {
        assert.ok(text.includes(c.command), 'the banner prints the command the test runs');
        assert.ok(text.includes(`# ${c.expect}`), 'with its expected status');
        const run = await bash(c.command);
        assert.equal(run.code, 0, run.stderr);
        const status = Number(run.stdout.trim().split('\n').at(-1));
        assert.equal(status, c.expect, `${c.title}: ${run.stdout}`);
      }
      assert.ok(lines.some((l) => l.startsWith('edge-us-east    | ') && l.includes('"msg":"access"')), 'child lines are prefixed with the child name');
    } finally {
      await stack.stop();
    }
    assert.deepEqual(await stack.exited, { reason: 'stopped' });
    assert.deepEqual(pids.filter(alive), [], 'every child has exited once stop() resolves');
  });

  it('takes the whole stack down, naming the child, when one child dies', async () => {
    const pki = await givenPki();
    try {
      const lines: string[] = [];
      const stack = await start({ pkiDir: pki.dir }, lines);
      const pids = Object.values(stack.pids);
      process.kill(stack.pids.rating ?? 0, 'SIGKILL');
      const exit = await stack.exited;
      assert.equal(exit.reason, 'child_exited');
      assert.equal(exit.reason === 'child_exited' ? exit.child.name : '', 'rating');
      assert.ok(lines.some((l) => /rating exited \(SIGKILL\); stopping the stack/.test(l)));
      assert.deepEqual(pids.filter(alive), []);
    } finally {
      await pki.cleanup();
    }
  });

  it('leaves no orphan when the runner itself is SIGKILLed', async () => {
    const pki = await givenPki();
    const runner = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'start.ts'), '--free-ports', '--runtime', 'tsx'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ZT_PKI_DIR: pki.dir, ROTATE_INTERVAL_S: '0', REDIS_URL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      runner.stdout.on('data', (c: Buffer) => {
        out += c.toString('utf8');
      });
      runner.stderr.on('data', (c: Buffer) => {
        out += c.toString('utf8');
      });
      const deadline = Date.now() + 120_000;
      while (!out.includes('Ctrl-C stops everything') && runner.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(out.includes('Ctrl-C stops everything'), `the runner came up:\n${out}`);
      const pids = [...out.matchAll(/ pid (\d+)/g)].map((m) => Number(m[1]));
      assert.equal(pids.length, 4, 'the banner shows the four service pids');
      assert.ok(pids.every(alive));
      const exited = once(runner, 'exit');
      process.kill(runner.pid ?? 0, 'SIGKILL');
      await exited;
      assert.deepEqual(await allGone(pids), [], 'every service noticed its runner was gone and exited');
    } finally {
      if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
      await pki.cleanup();
    }
  });

  it('rotates certificates on its timer, and the edges present the new ones without a restart', async () => {
    // A PKI issued 20 hours ago: every 24 h leaf is past 2/3 of its life, so the first run renews.
    const pki: TestPki = await givenPki({ now: new Date(Date.now() - 20 * 3600_000) });
    // The serial as issued, read before the stack (and so the rotation) starts.
    const first = new X509Certificate(await readFile(pki.layout.certFile('edge-us-east'))).serialNumber;
    const lines: string[] = [];
    const stack = await start({ pkiDir: pki.dir, rotateIntervalMs: 500 }, lines);
    try {
      // The edge may pick up its new certificate before the rotation run has finished the others
      // and printed its summary line: wait for both.
      const reported = (): boolean => lines.some((l) => l.startsWith('rotate') && l.includes('renewed') && l.includes('edge-us-east'));
      const deadline = Date.now() + 30_000;
      let now = first;
      while ((now === first || !reported()) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        now = await edgeSerial(stack.ports.edgeUsEast, pki);
      }
      assert.notEqual(now, first, 'the edge presents a renewed certificate');
      assert.ok(reported(), 'the runner reports the renewal');
      assert.deepEqual(Object.values(stack.pids).filter((p) => !alive(p)), [], 'no service restarted');
    } finally {
      await stack.stop();
      await pki.cleanup();
    }
  });
});

async function edgeSerial(port: number, pki: TestPki): Promise<string> {
  const tls = await pki.tls('client-alice');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ...tls, servername: 'localhost' }, () => {
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? '';
      socket.destroy();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}
