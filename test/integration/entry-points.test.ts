import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { givenPki, type TestPki } from '../helpers/given-pki.js';
import { REPO_ROOT } from '../helpers/run-script.js';

/** Every program a user or an operator starts, as they start it (through tsx, from a checkout). */
const ENTRY_POINTS = {
  authz: ['src/authz/main.ts'],
  rating: ['src/rating/main.ts'],
  edge: ['src/edge/main.ts'],
  'npm start': ['scripts/start.ts', '--free-ports'],
  'pki init': ['scripts/pki.ts', 'init'],
  'pki status': ['scripts/pki.ts', 'status'],
  'pki issue': ['scripts/pki.ts', 'issue', 'authz'],
  'rotate-certs': ['scripts/rotate-certs.ts', '--dry-run'],
  token: ['scripts/token.ts'],
} as const;

interface Outcome {
  readonly code: number | null;
  readonly output: string;
}

/** Runs an entry point; one that is still running after `graceMs` (it started) is stopped with SIGTERM. */
function run(args: readonly string[], env: NodeJS.ProcessEnv, graceMs = 8000): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...args.map((a, i) => (i === 0 ? join(REPO_ROOT, a) : a))], {
      cwd: REPO_ROOT,
      env: { ...process.env, LOG_LEVEL: 'debug', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => process.kill(-(child.pid ?? 0), 'SIGTERM'), graceMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

describe('every entry point checks its settings the same way and never echoes a secret', function () {
  this.timeout(240_000);
  let pki: TestPki;
  let env: NodeJS.ProcessEnv;

  before(async function () {
    pki = await givenPki();
    env = { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, EDGE_REGION: 'us-east', AUTHZ_URL: 'https://127.0.0.1:1', RATING_URL: 'https://127.0.0.1:1', AUTHZ_LISTEN: '127.0.0.1:0', AUTHZ_ADMIN_LISTEN: '127.0.0.1:0', RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0', EDGE_LISTEN: '127.0.0.1:0', EDGE_ADMIN_LISTEN: '127.0.0.1:0', ROTATE_INTERVAL_S: '0' };
  });
  after(async () => pki?.cleanup());

  for (const [name, args] of Object.entries(ENTRY_POINTS)) {
    it(`${name}: refuses ZT_TRUST_DOMAIN='Evil Domain/x' with exit 1 and the one message naming the setting`, async function () {
      const { code, output } = await run(args, { ...env, ZT_TRUST_DOMAIN: 'Evil Domain/x' });
      assert.equal(code, 1, output);
      assert.match(output, /ZT_TRUST_DOMAIN: not a DNS-like trust domain such as zt\.local \(got "Evil Domain\/x"\)/, output);
      assert.doesNotMatch(output, /spiffe:\/\/Evil Domain/, 'nothing was issued or served for it');
    });

    it(`${name}: never prints the password of a REDIS_URL, malformed or unreachable`, async function () {
      for (const url of ['http://:s3cret@redis:6379', 'rediss://zt:s3cret@127.0.0.1:1', 'redis://:s3cret@', 'rediss://:s3cret@127.0.0.1:1']) {
        const { output } = await run(args, { ...env, REDIS_URL: url }, 3000);
        assert.doesNotMatch(output, /s3cret/, `${name} with REDIS_URL=${url.replace('s3cret', '***')} printed the password:\n${output}`);
      }
    });
  }
});
