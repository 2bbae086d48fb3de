import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { ALICE, ratingsPath, ztHeaders } from './rating-harness.js';
import { rawRequest } from './raw-request.js';

const MAIN = resolve(REPO_ROOT, 'src/rating/main.ts');

interface Started {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  readonly stderr: () => string;
}

/** Runs main.ts as a process (through tsx, as `node dist/rating/main.js` runs the compiled file). */
function run(env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  return { child, lines, stderr: () => stderr };
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

async function waitForLine(started: Started, msg: string, deadlineMs = 20_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const line = started.lines.find((l) => l.msg === msg);
    if (line) return line;
    if (started.child.exitCode !== null) throw new Error(`exited ${started.child.exitCode} before "${msg}": ${started.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('rating main process', () => {
  let pki: TestPki;
  const children: ChildProcess[] = [];

  before(async () => {
    pki = await givenPki();
  });
  afterEach(() => {
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null && c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
  });
  after(async () => {
    await pki.cleanup();
  });

  it('starts from the environment, serves an edge, and exits 0 on SIGTERM', async () => {
    const started = run({ ZT_PKI_DIR: pki.dir, RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0' });
    children.push(started.child);
    const listening = await waitForLine(started, 'rating_listening');
    assert.equal(listening.store, 'memory');
    assert.equal(listening.service, 'rating');
    assert.match(String(listening.serial), /^[0-9a-f]+$/);
    const port = Number(listening.port);
    const adminPort = Number(listening.admin_port);

    const ready = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
    assert.equal(ready.status, 200);
    const edge = await pki.tls('edge-us-east');
    const res = await rawRequest(port, edge, {
      method: 'POST',
      path: ratingsPath('acme', 'i1'),
      headers: { ...ztHeaders(ALICE), 'content-type': 'application/json' },
      body: '{"score":4}',
    });
    assert.equal(res.status, 201);
    await waitForLine(started, 'rating_written');

    assert.ok(started.child.pid !== undefined);
    process.kill(started.child.pid, 'SIGTERM');
    assert.equal(await exitCode(started.child), 0);
    assert.ok(started.lines.some((l) => l.msg === 'rating_stopping' && l.signal === 'SIGTERM'));
  });

  it('exits 1 naming the setting when a setting is bad', async () => {
    const started = run({ ZT_PKI_DIR: pki.dir, RATING_LISTEN: 'nowhere' });
    children.push(started.child);
    assert.equal(await exitCode(started.child), 1);
    assert.match(started.stderr(), /^rating: RATING_LISTEN: not host:port .*\(got "nowhere"\)\n$/);
  });

  it('exits 1 naming REDIS_URL, and never printing its password, when it is not a Redis URL', async () => {
    const started = run({ ZT_PKI_DIR: pki.dir, REDIS_URL: 'http://:s3cret@redis:6379', RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0' });
    children.push(started.child);
    assert.equal(await exitCode(started.child), 1);
    assert.match(started.stderr(), /^rating: REDIS_URL: /);
    assert.doesNotMatch(started.stderr(), /s3cret/);
    assert.doesNotMatch(JSON.stringify(started.lines), /s3cret/);
  });

  it('exits 1 naming ZT_TRUST_DOMAIN when it is not a trust domain', async () => {
    const started = run({ ZT_PKI_DIR: pki.dir, ZT_TRUST_DOMAIN: 'Evil Domain/x', RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0' });
    children.push(started.child);
    assert.equal(await exitCode(started.child), 1);
    assert.match(started.stderr(), /^rating: ZT_TRUST_DOMAIN: not a DNS-like trust domain .*\(got "Evil Domain\/x"\)\n$/);
  });

  it('exits 1 naming the missing certificate when the PKI has no rating-api workload', async () => {
    const started = run({ ZT_PKI_DIR: pki.dir, ZT_WORKLOAD: 'no-such-workload', RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0' });
    children.push(started.child);
    assert.equal(await exitCode(started.child), 1);
    assert.match(started.stderr(), /no certificate for workload "no-such-workload"/);
  });
});
