import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { envoyBin } from '../../helpers/sandboxed-envoy.js';

const run = promisify(execFile);

interface Outcome {
  readonly code: number;
  readonly out: string;
}

/** `scripts/validate-envoy.sh` (what `npm run check` runs), on the shipped config or a copy. */
async function validate(config?: string): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run('bash', [join(REPO_ROOT, 'scripts', 'validate-envoy.sh'), ...(config ? ['--config', config] : [])], {
      env: { ...process.env, ENVOY_BIN: envoyBin() },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('envoy --mode validate on the shipped config (npm run check)', function () {
  this.timeout(60_000);
  let dir: string;
  let shipped: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), 'zt-envoy-validate-'));
    shipped = await readFile(join(REPO_ROOT, 'envoy', 'envoy.yaml'), 'utf8');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  async function broken(name: string, from: string | RegExp, to: string): Promise<string> {
    const text = shipped.replace(from, to);
    assert.notEqual(text, shipped, `${name}: the edit must change the config`);
    const file = join(dir, `${name}.yaml`);
    await writeFile(file, text);
    return file;
  }

  it('accepts envoy/envoy.yaml with envoy/sds/ at its compose paths', async function () {
    const { code, out } = await validate();
    assert.equal(code, 0, out);
    assert.match(out, /configuration '\/etc\/envoy\/envoy\.yaml' OK/);
  });

  it('refuses a copy whose route names a cluster that does not exist', async function () {
    const { code, out } = await validate(await broken('missing-cluster', /cluster: rating_api\n/, 'cluster: rating_apx\n'));
    assert.notEqual(code, 0);
    assert.match(out, /unknown cluster 'rating_apx'/);
  });

  it('refuses a copy with a misspelled field', async function () {
    const { code, out } = await validate(await broken('misspelled', 'stat_prefix: edge\n', 'stat_prefx: edge\n'));
    assert.notEqual(code, 0);
    assert.match(out, /stat_prefx|INVALID_ARGUMENT/);
  });

  it('refuses a copy whose SDS file path is not where compose mounts envoy/sds', async function () {
    const { code, out } = await validate(await broken('sds-path', /\/etc\/envoy\/sds\/edge-cert\.yaml/g, '/etc/envoy/secrets/edge-cert.yaml'));
    assert.notEqual(code, 0);
    assert.match(out, /\/etc\/envoy\/secrets\/edge-cert\.yaml' does not exist/);
  });
});
