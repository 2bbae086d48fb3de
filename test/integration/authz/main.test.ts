import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import request from 'supertest';
import { loadConfig } from '../../../src/authz/config.js';
import { createDeps } from '../../../src/authz/create-deps.js';
import { ConfigError } from '../../../src/shared/errors.js';
import { createLogger } from '../../../src/shared/logger.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';
import { ALICE, tokenFor, xfccFor } from './given-authz.js';

interface Started {
  readonly child: ChildProcess;
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
}

function startMain(env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/authz/main.ts')], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, stdout: () => out, stderr: () => err, exited };
}

async function listening(started: Started): Promise<{ port: number; admin_port: number }> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const line = started
      .stdout()
      .split('\n')
      .find((l) => l.includes('"authz listening"'));
    if (line !== undefined) return JSON.parse(line) as { port: number; admin_port: number };
    if (started.child.exitCode !== null) throw new Error(`authz exited: ${started.stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('authz did not start');
}

/** `src/authz/main.ts` as a process: starts from settings alone, answers, exits 0 on SIGTERM, 1 on bad settings. */
describe('authz main', () => {
  let pki: TestPki;
  let env: Record<string, string>;
  const children: ChildProcess[] = [];

  before(async () => {
    await givenBuiltPolicy();
    pki = await givenPki();
    env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, AUTHZ_LISTEN: '127.0.0.1:0', AUTHZ_ADMIN_LISTEN: '127.0.0.1:0', POLICY_WASM: wasmPath, POLICY_DATA: dataPath };
  });

  after(async () => {
    for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await pki.cleanup();
  });

  it('starts from its settings, answers a check, and exits 0 on SIGTERM', async () => {
    const started = startMain(env);
    children.push(started.child);
    const { port, admin_port } = await listening(started);
    const ready = await request(`http://127.0.0.1:${admin_port}`).get('/readyz');
    assert.equal(ready.status, 200);

    const edge = await pki.tls('edge-us-east');
    const token = await tokenFor(pki, ALICE);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(
        {
          host: '127.0.0.1',
          servername: 'authz',
          port,
          path: '/check/v1/tenants/acme/items/i1/ratings',
          method: 'POST',
          agent: false,
          ...edge,
          headers: { authorization: `Bearer ${token}`, 'x-forwarded-client-cert': xfccFor(pki, 'client-alice') },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    // The line crosses a pipe; wait for it rather than assume it is there with the response.
    const deadline = Date.now() + 5000;
    while (!started.stdout().includes('"msg":"decision"') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(started.stdout().includes('"msg":"decision"'), 'the decision line goes to stdout');

    process.kill(started.child.pid!, 'SIGTERM');
    assert.equal(await started.exited, 0);
  });

  it('exits 1 naming JWT_ALGORITHMS when it allows HS256', async () => {
    const started = startMain({ ...env, JWT_ALGORITHMS: 'ES256,HS256' });
    children.push(started.child);
    assert.equal(await started.exited, 1);
    assert.match(started.stderr(), /JWT_ALGORITHMS/);
  });

  it('exits 1 naming the missing file when the PKI is not there', async () => {
    const started = startMain({ ...env, ZT_PKI_DIR: join(pki.dir, 'nowhere') });
    children.push(started.child);
    assert.equal(await started.exited, 1);
    assert.match(started.stderr(), /^authz: ZT_PKI_DIR: .*nowhere/m);
  });

  it('exits 1 naming REDIS_URL without ever printing its password', async () => {
    for (const url of ['http://:s3cret@redis:6379', 'redis://:s3cret@']) {
      const started = startMain({ ...env, REDIS_URL: url });
      children.push(started.child);
      assert.equal(await started.exited, 1, url);
      assert.match(started.stderr(), /^authz: REDIS_URL: /m, url);
      assert.ok(!`${started.stderr()}${started.stdout()}`.includes('s3cret'), `${url}: ${started.stderr()}`);
    }
  });

  describe('a file it cannot open', () => {
    // The files' rows take any text, so the start, not loadConfig, finds them missing; it names the
    // setting as a bad setting's error does.
    const cases: ReadonlyArray<readonly [string, (dir: string) => string]> = [
      ['ZT_PKI_DIR', (dir) => dir],
      ['JWKS_FILE', (dir) => join(dir, 'jwks.json')],
      ['POLICY_WASM', (dir) => join(dir, 'policy.wasm')],
      ['POLICY_DATA', (dir) => join(dir, 'data.json')],
    ];
    for (const [name, missing] of cases) {
      it(`is named by its setting: ${name}`, async () => {
        const path = missing(join(pki.dir, 'nowhere'));
        await assert.rejects(
          createDeps(loadConfig({ ...env, [name]: path }), { logger: createLogger('authz', { level: 'silent' }) }),
          (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${name}: `) && err.message.includes(path),
        );
      });
    }
  });
});
