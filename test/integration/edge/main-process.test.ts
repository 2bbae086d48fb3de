import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { edgeRegions } from '../../../src/shared/topology.js';
import { ENVOY_YAML } from '../../helpers/edge-under-test.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { waitFor } from '../../helpers/wait-for.js';

const MAIN = resolve(REPO_ROOT, 'src/edge/main.ts');

/** A dev edge process, its JSON log lines and its stderr as they come. */
interface Started {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[];
  /** Its exit code, once it has exited and its output is all read. */
  readonly closed: Promise<number | null>;
  /** Everything it printed, stdout and stderr. */
  output(): string;
  stderr(): string;
}

/** Runs main.ts as a process (through tsx, as `node dist/edge/main.js` runs the compiled file). */
function run(env: NodeJS.ProcessEnv): Started {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], { cwd: REPO_ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Record<string, unknown>[] = [];
  let stdout = '';
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  if (child.stdout) createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l) as Record<string, unknown>));
  const closed = once(child, 'close').then(([code]) => code as number | null);
  return { child, lines, closed, output: () => stdout + stderr, stderr: () => stderr };
}

/** Resolves with the edge's "edge listening" line; rejects if it exits first. */
function listening(started: Started): Promise<Record<string, unknown>> {
  return waitFor('the "edge listening" line', () => {
    if (started.child.exitCode !== null) throw new Error(`the edge exited ${started.child.exitCode} during start: ${started.stderr()}`);
    return started.lines.find((l) => l.msg === 'edge listening');
  }, 20_000);
}

function kill(started: Started | undefined): void {
  const child = started?.child;
  if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/**
 * The dev edge's entry point as `node dist/edge/main.js` runs it (through tsx here: no build
 * needed). Only the dev edge has one: Envoy's process is scripts/envoy-sandbox.sh's business, and
 * what either edge does with requests is in the suites that run through both.
 */
describe('dev edge: the main process', () => {
  let pki: TestPki;
  let env: NodeJS.ProcessEnv;
  let started: Started | undefined;
  let adminPort: number;

  before(async () => {
    pki = await givenPki();
    env = {
      ZT_PKI_DIR: pki.dir,
      ZT_PKI_CONFIG: pki.configFile,
      EDGE_REGION: 'eu-central',
      EDGE_LISTEN: '127.0.0.1:0',
      EDGE_ADMIN_LISTEN: '127.0.0.1:0',
      ENVOY_CONFIG: ENVOY_YAML,
      AUTHZ_URL: 'https://127.0.0.1:9',
      RATING_URL: 'https://127.0.0.1:9',
    };
  });

  after(async () => {
    kill(started);
    await pki.cleanup();
  });

  describe('started', () => {
    before(async () => {
      started = run(env);
      adminPort = Number((await listening(started)).admin_port);
    });

    it('says where it listens, as whom and in front of what', () => {
      const line = started?.lines.find((l) => l.msg === 'edge listening');
      assert.equal(line?.region, 'eu-central');
      assert.equal(line?.self, pki.spiffeId('edge-eu-central'));
      assert.equal(line?.authz, 'https://127.0.0.1:9/');
      assert.equal(line?.upstream, 'https://127.0.0.1:9/');
      assert.equal(typeof line?.port, 'number');
    });

    it('reports ready on its admin listener once it listens with a valid certificate', async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
      assert.equal(res.status, 200);
    });

    it("lists Envoy's upstream certificate verification counters on /stats, at 0 before any request", async () => {
      const res = await fetch(`http://127.0.0.1:${adminPort}/stats`);
      assert.equal(res.status, 200);
      const text = await res.text();
      for (const cluster of ['authz', 'rating_api']) {
        for (const counter of ['fail_verify_error', 'fail_verify_san']) assert.match(text, new RegExp(`^cluster\\.${cluster}\\.ssl\\.${counter}: 0$`, 'm'));
      }
    });

    it('exits 0 on SIGTERM, saying so', async () => {
      assert.ok(started?.child.pid !== undefined);
      started.child.kill('SIGTERM');
      assert.equal(await started.closed, 0);
      assert.ok(started.lines.some((l) => l.msg === 'edge stopping' && l.signal === 'SIGTERM'));
    });
  });

  describe('refusing to start', () => {
    let refused: Started | undefined;
    afterEach(() => kill(refused));

    it("exits 1 on EDGE_REGION=mars, naming EDGE_REGION and listing the topology's regions", async () => {
      refused = run({ ...env, EDGE_REGION: 'mars' });
      assert.equal(await refused.closed, 1);
      assert.match(refused.stderr(), /^edge: EDGE_REGION: .*\(got "mars"\)\n$/);
      for (const region of edgeRegions(pki.spec)) assert.ok(refused.stderr().includes(region), `${refused.stderr()} lists ${region}`);
    });

    it("exits 1 on ZT_TRUST_DOMAIN='Evil Domain/x', naming ZT_TRUST_DOMAIN", async () => {
      refused = run({ ...env, ZT_TRUST_DOMAIN: 'Evil Domain/x' });
      assert.equal(await refused.closed, 1);
      assert.match(refused.stderr(), /^edge: ZT_TRUST_DOMAIN: not a DNS-like trust domain such as zt\.local \(got "Evil Domain\/x"\)\n$/);
      assert.doesNotMatch(refused.output(), /spiffe:\/\/Evil Domain/);
    });

    it('never prints the password of a REDIS_URL, which it does not read, from start to stop', async () => {
      refused = run({ ...env, LOG_LEVEL: 'debug', REDIS_URL: 'http://:s3cret@redis:6379' });
      await listening(refused);
      refused.child.kill('SIGTERM');
      assert.equal(await refused.closed, 0);
      assert.ok(refused.output().includes('edge listening'), 'it started and logged');
      assert.doesNotMatch(refused.output(), /s3cret/);
    });
  });
});
