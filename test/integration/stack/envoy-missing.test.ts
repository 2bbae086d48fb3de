import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../../helpers/run-script.js';

/**
 * `npm start -- --edge envoy` on a machine without Envoy: one failure mode per fixture, each
 * checked to fail before the runner writes or starts anything.
 */
describe('npm start -- --edge envoy without a usable Envoy', function () {
  this.timeout(60_000);
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-envoy-missing-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function startWith(envoyBin: string): Promise<{ code: number; stdout: string; stderr: string; pkiDir: string }> {
    const pkiDir = join(dir, `pki-${Math.random().toString(36).slice(2)}`);
    const run = await runScript('start', ['--edge', 'envoy', '--free-ports', '--runtime', 'tsx'], { ZT_PKI_DIR: pkiDir, ENVOY_BIN: envoyBin, ROTATE_INTERVAL_S: '0' });
    return { ...run, pkiDir };
  }

  function assertRefusedBeforeStarting(run: { code: number; stdout: string; stderr: string; pkiDir: string }, bin: string, why: RegExp): void {
    assert.equal(run.code, 1, `exits 1: ${run.stdout}${run.stderr}`);
    assert.ok(run.stderr.includes(`ENVOY_BIN=${bin}`), `names the path it looked at: ${run.stderr}`);
    assert.match(run.stderr, why);
    assert.match(run.stderr, /npm run setup:envoy/, 'says how to install Envoy');
    assert.match(run.stderr, /or set ENVOY_BIN/);
    assert.equal(run.stdout, '', 'printed nothing of a start');
    assert.equal(existsSync(run.pkiDir), false, 'wrote no PKI: nothing was started');
  }

  it('exits 1 before starting anything, naming the path and how to install Envoy, when ENVOY_BIN names no file', async () => {
    const bin = join(dir, 'no-such-dir', 'envoy');
    assertRefusedBeforeStarting(await startWith(bin), bin, /does not exist/);
  });

  it('exits 1 before starting anything when ENVOY_BIN names a file that is not executable', async () => {
    const bin = join(dir, 'envoy-not-executable');
    await writeFile(bin, '#!/bin/sh\necho "envoy  version: 0/1.40.0/Clean/RELEASE/BoringSSL"\n', { mode: 0o644 });
    assertRefusedBeforeStarting(await startWith(bin), bin, /is not executable/);
  });

  it('exits 1 before starting anything when ENVOY_BIN names a program that is not Envoy', async () => {
    const bin = join(dir, 'not-envoy');
    await writeFile(bin, '#!/bin/sh\necho "something else 1.0"\n', { mode: 0o755 });
    assertRefusedBeforeStarting(await startWith(bin), bin, /prints no Envoy version/);
  });
});
