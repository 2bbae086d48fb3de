import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { readWorkloadMaterial } from '../../src/shared/pki/workload-material.js';
import { givenStack, type TestStack } from '../helpers/given-stack.js';
import { secretOwner } from '../helpers/secret-files.js';

const run = promisify(execFile);

/** Each child of the stack, by name, and the workload whose key is its own. */
const OWN: Record<string, string> = {
  authz: 'authz',
  rating: 'rating-api',
  redis: 'redis',
  'edge-us-east': 'edge-us-east',
  'edge-eu-central': 'edge-eu-central',
};

/** A process's real uid and gid, from /proc. */
async function credentialsOf(pid: number): Promise<{ uid: number; gid: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1]);
  return { uid: field('Uid'), gid: field('Gid') };
}

/** Every file under `dir` the user and group can open for reading (find -readable asks the kernel, access(2)). */
async function readableAs(creds: { uid: number; gid: number }, dir: string): Promise<string[]> {
  const { stdout } = await run('find', [dir, '-type', 'f', '-readable'], { uid: creds.uid, gid: creds.gid, maxBuffer: 16 * 1024 * 1024 }).catch((err: { stdout?: string }) => ({ stdout: err.stdout ?? '' }));
  return stdout.split('\n').filter((l) => l !== '');
}

/**
 * "No process can read a private key or password that is not its own", for `npm start`'s
 * processes: each child of the running stack (authz, the rating API, both edges, Redis) is asked,
 * as the kernel sees it (its own uid and gid), which files of the PKI it can read.
 */
describe('the embedded stack: no process can read a key or password that is not its own', function () {
  this.timeout(300_000);
  let s: TestStack;

  before(async function () {
    if (process.getuid?.() !== 0) {
      console.warn('      skipped: per-service users need root (CI runs as root); as another user every child runs as you and the banner says so');
      this.skip();
    }
    s = await givenStack({ edge: 'dev', redis: 'local' });
  });
  after(async () => s?.stop());

  /** `child: file (owner's)` for each secret a child can read that is not its own. */
  async function foreignSecrets(): Promise<string[]> {
    const found: string[] = [];
    for (const [child, pid] of Object.entries(s.stack.pids)) {
      const own = OWN[child];
      assert.ok(own, `a known child: ${child}`);
      for (const file of await readableAs(await credentialsOf(pid), s.pki.dir)) {
        const owner = secretOwner(s.pki.layout, file);
        if (owner !== undefined && owner !== own) found.push(`${child}: ${relative(s.pki.dir, file)} (${owner}'s)`);
      }
    }
    return found;
  }

  it('runs each child as a user of its own, which reads its own key and Redis password and nothing else secret', async () => {
    assert.equal(s.stack.isolated, true);
    const uids = new Set<number>();
    for (const [child, pid] of Object.entries(s.stack.pids)) {
      const creds = await credentialsOf(pid);
      assert.notEqual(creds.uid, 0, `${child} does not run as root`);
      uids.add(creds.uid);
      const readable = await readableAs(creds, s.pki.dir);
      const own = await readWorkloadMaterial(s.pki.layout, OWN[child] ?? '');
      assert.ok(readable.includes(join(own.versionDir, 'key.pem')), `${child} reads its own key`);
      if (own.redisPassword !== undefined) assert.ok(readable.includes(join(own.versionDir, 'redis-password')), `${child} reads its own Redis password`);
    }
    assert.equal(uids.size, Object.keys(s.stack.pids).length, 'one user per child');
    assert.deepEqual(await foreignSecrets(), []);
  });

  it('keeps the JWT signing key, the intermediate key and the root key from authz', async () => {
    const readable = await readableAs(await credentialsOf(s.stack.pids.authz ?? 0), s.pki.dir);
    const owners = new Set(readable.map((f) => secretOwner(s.pki.layout, f)));
    for (const ca of ['jwt', 'intermediate', 'root']) assert.ok(!owners.has(ca), `authz cannot read the ${ca} key`);
    assert.ok(readable.includes(s.pki.layout.jwks), 'but it reads the JWKS');
  });

  it('keeps every file a rotation writes its owner\'s', async () => {
    const summary = await s.stack.rotate({ force: true });
    assert.equal(summary.ok, true, summary.errors.join('; '));
    assert.deepEqual(await foreignSecrets(), []);
    const rating = await credentialsOf(s.stack.pids.rating ?? 0);
    const current = await readWorkloadMaterial(s.pki.layout, 'rating-api');
    assert.ok((await readableAs(rating, s.pki.dir)).includes(join(current.versionDir, 'key.pem')), 'the rating API reads its new key');
  });

  it('finds the leak when a key is opened up (a check that fails on a broken copy)', async () => {
    const key = join((await readWorkloadMaterial(s.pki.layout, 'rating-api')).versionDir, 'key.pem');
    await chmod(key, 0o644);
    try {
      const found = await foreignSecrets();
      assert.ok(found.includes(`authz: ${relative(s.pki.dir, key)} (rating-api's)`), found.join('\n'));
    } finally {
      await chmod(key, 0o600);
    }
  });
});
