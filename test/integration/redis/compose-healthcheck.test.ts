import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { useRedis } from '../../helpers/given-redis.js';

const run = promisify(execFile);
const COMPOSE = fileURLToPath(new URL('../../../compose/docker-compose.yml', import.meta.url));

/** compose's Redis health check command, as the container's shell would run it, pointed at this PKI and port. */
function healthCheck(pkiDir: string, port: number): string {
  const compose = parse(readFileSync(COMPOSE, 'utf8'), { merge: true }) as { services: { redis: { healthcheck: { test: string[] } } } };
  const [kind, command = ''] = compose.services.redis.healthcheck.test;
  assert.equal(kind, 'CMD-SHELL');
  // `$$` is compose's escape for a literal `$`; the container mounts the PKI at /pki.
  return command.replaceAll('$$', '$').replaceAll('/pki/', `${pkiDir}/`).replace('-p 6379', `-p ${port}`);
}

/** The compose health check, run for real with Debian's redis-cli against a Redis from the one launcher. */
describe('the compose health check for Redis', function () {
  this.timeout(60_000);
  const redis = useRedis();

  it('passes over TLS with Redis\'s own certificate, as the PING-only user redis', async () => {
    const command = healthCheck(redis().pki.dir, redis().port);
    assert.match(command, /redis-cli --tls .*--cert .*--user redis ping/);
    const { stdout, stderr } = await run('sh', ['-c', command]);
    assert.equal(stdout + stderr, '');
  });

  it('fails when the password is wrong, and when the client presents no certificate', async () => {
    const command = healthCheck(redis().pki.dir, redis().port);
    const wrong = command.replace(/\$\(cat [^)]+\)/, 'not-the-password');
    await assert.rejects(run('sh', ['-c', wrong]), (err: { code?: number; stderr?: string }) => err.code === 1 && /WRONGPASS|AUTH failed/.test(err.stderr ?? ''));
    const noCert = command.replace(/--cert \S+ --key \S+ /, '');
    await assert.rejects(run('sh', ['-c', noCert]), (err: { code?: number }) => err.code === 1);
  });
});
