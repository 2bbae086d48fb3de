import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer, type Socket } from 'node:net';
import { connect } from 'node:tls';
import { listen } from '../../../src/shared/listen.js';
import { demoCommands } from '../../../src/stack/banner.js';
import { startStack, type EdgeKind, type RunningStack, type StackOptions } from '../../../src/stack/stack.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { waitFor } from '../../helpers/wait-for.js';

/** Every port free: tests never take the well-known ones. */
const FREE_PORTS = { base: 'free' } as const;

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

/**
 * The processes an Envoy edge's watchdog runs (Envoy itself): the stack knows the watchdog's pid,
 * and an Envoy left behind would hold the edge's ports.
 */
async function childPids(pid: number): Promise<number[]> {
  const text = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => '');
  return text.split(/\s+/).filter((p) => p !== '').map(Number);
}

/** The edge pids of a stack: for Envoy edges, the watchdogs and the Envoys under them. */
async function edgePids(edges: EdgeKind, pids: Readonly<Record<string, number>>): Promise<number[]> {
  if (edges !== 'envoy') return [];
  const envoys = (await Promise.all([pids['edge-us-east'] ?? 0, pids['edge-eu-central'] ?? 0].map(childPids))).flat();
  assert.equal(envoys.length, 2, 'each Envoy edge runs one Envoy under its watchdog');
  return envoys;
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
    // Run as root, the stack runs each service as a user of its own, who must reach the PKI in here.
    await chmod(dir, 0o755);
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function start(options: StackOptions, lines: string[]): Promise<RunningStack> {
    return startStack({ ports: FREE_PORTS, runtime: 'tsx', rotateIntervalMs: 0, output: (l) => lines.push(l), ...options });
  }

  for (const edges of ['dev', 'envoy'] as const) {
    it(`initialises a PKI in an empty directory, comes up ready with ${edges} edges, answers the banner commands as printed, and stop() leaves no child alive`, async () => {
      const lines: string[] = [];
      const stack = await start({ pkiDir: join(dir, `fresh-pki-${edges}`), edges }, lines);
      const pids = [...Object.values(stack.pids), ...(await edgePids(edges, stack.pids))];
      const text = stack.banner();
      try {
        assert.deepEqual(Object.keys(stack.pids).sort(), ['authz', 'edge-eu-central', 'edge-us-east', 'rating']);
        assert.equal(stack.edges, edges);
        assert.ok(lines.some((l) => l.includes('PKI: created ca')), 'the PKI was created');
        const admins: [string, number][] = [
          ['authz', stack.ports.authz.admin],
          ['rating', stack.ports.rating.admin],
          ...Object.entries(stack.ports.edges).map(([region, p]): [string, number] => [`edge-${region}`, p.admin]),
        ];
        assert.equal(admins.length, 4);
        for (const [name, port] of admins) {
          if (edges === 'envoy' && name.startsWith('edge')) {
            const ready = await fetch(`http://127.0.0.1:${port}/ready`);
            assert.deepEqual([ready.status, (await ready.text()).trim()], [200, 'LIVE'], name);
          } else {
            assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200, name);
          }
        }
        if (edges === 'envoy') assert.match(text, /edges +Envoy 1\.40\.\d+ from ENVOY_BIN \(\/\S+\)/, 'the banner says the real Envoy runs, and which');
        else assert.match(text, /edges +dev edges/, 'the banner says the dev edges run');
        const commands = demoCommands({ ports: stack.ports, homeRegion: 'us-east', pkiDir: stack.pkiDir, pkiConfig: join(REPO_ROOT, 'pki', 'workloads.yaml'), repoRoot: REPO_ROOT });
        assert.equal(commands.length, 4);
        for (const c of commands) {
          assert.ok(text.includes(c.command), 'the banner prints the command the test runs');
          assert.ok(text.includes(`# ${c.expect}`), 'with its expected status');
          const run = await bash(c.command);
          assert.equal(run.code, 0, run.stderr);
          const status = Number(run.stdout.trim().split('\n').at(-1));
          assert.equal(status, c.expect, `${c.title}: ${run.stdout}`);
          if (c.expect === 403) assert.equal((JSON.parse(run.stdout.trim().split('\n')[0] ?? '') as { error?: string }).error, 'cross_region', run.stdout);
          if (c.expect === 401) assert.equal((JSON.parse(run.stdout.trim().split('\n')[0] ?? '') as { error?: string }).error, 'invalid_token', run.stdout);
        }
        // Envoy writes its access log out on a timer, so its line may follow the answer.
        await waitFor('an access line of edge-us-east', () => (lines.some((l) => l.startsWith('edge-us-east    | ') && l.includes('"msg":"access"')) ? true : undefined), 5000);
        assert.ok(lines.some((l) => l.startsWith('edge-us-east    | ') && l.includes('"msg":"access"')), 'child lines are prefixed with the child name');
      } finally {
        await stack.stop();
      }
      assert.deepEqual(await stack.exited, { reason: 'stopped' });
      assert.deepEqual(pids.filter(alive), [], 'every child has exited once stop() resolves');
      if (edges === 'envoy') {
        const copies = /copies in (\S+)\)/.exec(text)?.[1];
        assert.ok(copies !== undefined, 'the banner names the directory of the generated config');
        assert.equal(existsSync(copies), false, 'the generated config is removed on stop');
      }
    });
  }

  it('builds the policy a fresh checkout does not have yet, before handing it to the service users, and comes up', async () => {
    const wasm = join(REPO_ROOT, 'policies', 'build', 'policy.wasm');
    const aside = `${wasm}.aside-${process.pid}`;
    await rename(wasm, aside);
    const lines: string[] = [];
    try {
      const stack = await start({ pkiDir: join(dir, 'fresh-checkout-pki') }, lines);
      try {
        assert.ok(lines.some((l) => l.includes('building the policy')), 'the stack said it built the policy');
        assert.ok(existsSync(wasm), 'and the wasm is there');
        assert.equal((await fetch(`http://127.0.0.1:${stack.ports.authz.admin}/readyz`)).status, 200);
      } finally {
        await stack.stop();
      }
    } finally {
      if (existsSync(wasm)) await rm(aside, { force: true });
      else await rename(aside, wasm);
    }
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

  it('names the child that could not start and the port it could not take, however the stopped siblings report', async () => {
    // eu-central's admin port is held (by a server that accepts and never answers, so that its
    // readiness probe waits out its timeout meanwhile): eu-central exits with EADDRINUSE, the stack
    // is stopped, and us-east's readiness check may see its own exit first. The error must still
    // name eu-central (CI once said "edge-us-east exited before it was ready" for such a start).
    const accepted: Socket[] = [];
    const holder = createNetServer((socket) => accepted.push(socket));
    const held = await listen(holder, { host: '127.0.0.1', port: 0 });
    const pki = await givenPki();
    try {
      const lines: string[] = [];
      await assert.rejects(
        startStack({ ports: { base: 'free', edges: { 'eu-central': { admin: held } } }, runtime: 'tsx', rotateIntervalMs: 0, output: (l) => lines.push(l), pkiDir: pki.dir }),
        (err: Error) => {
          assert.match(err.message, /^edge-eu-central exited /);
          assert.match(err.message, new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${held}`));
          return true;
        },
      );
    } finally {
      await pki.cleanup();
      for (const socket of accepted) socket.destroy();
      await new Promise((r) => holder.close(r));
    }
  });

  for (const edges of ['dev', 'envoy'] as const) {
    it(`leaves no orphan when the runner itself is SIGKILLed (${edges} edges)`, async () => {
      const pki = await givenPki();
      const runner = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'start.ts'), '--free-ports', '--runtime', 'tsx', '--edge', edges], {
        cwd: REPO_ROOT,
        env: { ...process.env, ZT_PKI_DIR: pki.dir, ROTATE_INTERVAL_S: '0', REDIS_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      try {
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
        // An Envoy edge's pid is its watchdog's; Envoy runs under it.
        const envoys = (await Promise.all(pids.map(childPids))).flat();
        assert.equal(envoys.length, edges === 'envoy' ? 2 : 0, 'one Envoy under each Envoy edge watchdog');
        const exited = once(runner, 'exit');
        process.kill(runner.pid ?? 0, 'SIGKILL');
        await exited;
        assert.deepEqual(await allGone([...pids, ...envoys]), [], 'every service noticed its runner was gone and exited');
      } finally {
        if (runner.exitCode === null && runner.signalCode === null) runner.kill('SIGKILL');
        // A killed runner cannot remove the Envoy configs it generated; the test does.
        const copies = /copies in (\S+)\)/.exec(out)?.[1];
        if (copies !== undefined) await rm(copies, { recursive: true, force: true });
        await pki.cleanup();
      }
    });
  }

  for (const edges of ['dev', 'envoy'] as const) {
    it(`rotates certificates on its timer, and the ${edges} edges present the new ones without a restart`, async () => {
      // A PKI issued 20 hours ago: every 24 h leaf is past 2/3 of its life, so the first run renews.
      const pki: TestPki = await givenPki({ now: new Date(Date.now() - 20 * 3600_000) });
      // The serial as issued, read before the stack (and so the rotation) starts.
      const first = new X509Certificate(await readFile(pki.file('edge-us-east', 'cert.pem'))).serialNumber;
      const lines: string[] = [];
      const stack = await start({ pkiDir: pki.dir, rotateIntervalMs: 500, edges }, lines);
      try {
        // The edge may pick up its new certificate before the rotation run has finished the others
        // and printed its summary line: wait for both.
        const reported = (): boolean => lines.some((l) => l.startsWith('rotate') && l.includes('renewed') && l.includes('edge-us-east'));
        const deadline = Date.now() + 30_000;
        let now = first;
        while ((now === first || !reported()) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          now = await edgeSerial(stack.ports.edges['us-east']?.listen ?? 0, pki);
        }
        assert.notEqual(now, first, 'the edge presents a renewed certificate');
        assert.ok(reported(), 'the runner reports the renewal');
        assert.deepEqual(Object.values(stack.pids).filter((p) => !alive(p)), [], 'no service restarted');
      } finally {
        await stack.stop();
        await pki.cleanup();
      }
    });
  }
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
