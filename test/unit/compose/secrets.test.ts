import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { initPki } from '../../../src/pki/authority.js';
import { PkiLayout } from '../../../src/shared/pki/pki-layout.js';
import { loadTopology } from '../../../src/shared/topology.js';
import { WORKLOADS_YAML } from '../../helpers/given-pki.js';
import { filesUnder, secretOwner } from '../../helpers/secret-files.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const COMPOSE = join(ROOT, 'compose/docker-compose.yml');

/** Which secrets each service may hold: its own; the issuers everything they issue (the rotator never the root key). */
const OWN: Record<string, readonly string[]> = {
  authz: ['authz'],
  'rating-api': ['rating-api'],
  'envoy-us-east': ['edge-us-east'],
  'envoy-eu-central': ['edge-eu-central'],
  redis: ['redis'],
  loki: ['loki'],
  alloy: ['alloy'],
  grafana: ['grafana'],
  'docker-proxy': [],
};
const ISSUERS: Record<string, (owner: string) => boolean> = {
  'pki-init': () => true,
  'cert-rotator': (owner) => owner !== 'root',
};

interface Mount {
  readonly service: string;
  readonly source: string;
  readonly target: string;
}

/** `${VAR:-default}` as compose reads it with VAR unset, then the host path relative to the compose file. */
function hostPath(source: string, composeDir: string, vars: Readonly<Record<string, string>>): string {
  const expanded = source.replace(/\$\{([A-Z_][A-Z0-9_]*)(?::-([^}]*))?\}/g, (_m, name: string, fallback: string | undefined) => vars[name] ?? fallback ?? '');
  return isAbsolute(expanded) ? expanded : resolve(composeDir, expanded);
}

/** Every bind mount of every service of a compose text (merge keys honoured), with host paths resolved. */
function mountsOf(text: string, composeDir: string, vars: Readonly<Record<string, string>>): Mount[] {
  const doc = parse(text, { merge: true }) as { services: Record<string, { volumes?: string[] }> };
  const out: Mount[] = [];
  for (const [service, s] of Object.entries(doc.services)) {
    for (const v of s.volumes ?? []) {
      // The source may hold `${VAR:-default}`, whose `:-` is not a separator.
      const m = /^((?:\$\{[^}]+\}|[^:$])+):([^:]+)(?::(.+))?$/.exec(v);
      assert.ok(m, `${service}: cannot read volume ${v}`);
      const source = m[1] ?? '';
      if (!/^[.$/~]/.test(source)) continue; // a named volume
      out.push({ service, source: hostPath(source, composeDir, vars), target: m[2] ?? '' });
    }
  }
  return out;
}

/** What each service can read that is a secret, and whose it is: `service: file (owner)` for each one not its own. */
async function foreignSecrets(text: string, layout: PkiLayout, vars: Readonly<Record<string, string>>): Promise<string[]> {
  const found: string[] = [];
  for (const m of mountsOf(text, dirname(COMPOSE), vars)) {
    const underPki = [layout.dir, layout.rootDir].some((d) => !relative(d, m.source).startsWith('..'));
    if (!underPki) continue;
    for (const file of await filesUnder(m.source)) {
      const owner = secretOwner(layout, file);
      if (owner === undefined) continue;
      const allowed = ISSUERS[m.service]?.(owner) ?? (OWN[m.service] ?? []).includes(owner);
      if (!allowed) found.push(`${m.service}: ${relative(dirname(layout.dir), file)} (${owner}'s)`);
    }
  }
  return found;
}

/**
 * "No container can read a private key or password that is not its own": every compose service's
 * mounts walked against a PKI generated as pki-init generates it (the root key in a directory of
 * its own), listing every secret file each container would see.
 */
describe('compose/docker-compose.yml: secrets', function () {
  this.timeout(120_000);
  const text = readFileSync(COMPOSE, 'utf8');
  let dir: string;
  let layout: PkiLayout;
  let vars: Record<string, string>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'zt-compose-pki-'));
    layout = new PkiLayout(join(dir, 'out'), join(dir, 'root'));
    await initPki(layout, loadTopology(WORKLOADS_YAML));
    vars = { ZT_PKI_HOST_DIR: layout.dir, ZT_PKI_ROOT_HOST_DIR: layout.rootDir };
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('lets no container read a key or password but its own (the issuers aside), and no long-running one the root key', async () => {
    assert.deepEqual(await foreignSecrets(text, layout, vars), []);
    const rootHolders = new Set(
      (await Promise.all(mountsOf(text, dirname(COMPOSE), vars).map(async (m) => ((await filesUnder(m.source).catch(() => [])).some((f) => secretOwner(layout, f) === 'root') ? m.service : undefined)))).filter(Boolean),
    );
    assert.deepEqual([...rootHolders], ['pki-init'], 'only the one-shot pki-init mounts the root key');
  });

  it('gives authz the JWKS and its own key but not the JWT signing key', async () => {
    const authz = mountsOf(text, dirname(COMPOSE), vars).filter((m) => m.service === 'authz');
    const files = (await Promise.all(authz.map((m) => filesUnder(m.source)))).flat();
    assert.ok(files.includes(layout.jwks), 'the JWKS is mounted');
    assert.ok(!files.some((f) => secretOwner(layout, f) === 'jwt'), 'no jwt/<kid>/key.pem');
    assert.ok(files.some((f) => secretOwner(layout, f) === 'authz'), 'its own key');
  });

  it('mounts every secret a service uses: each reads its key, and the Redis users their passwords', async () => {
    for (const [service, owners] of Object.entries(OWN)) {
      const mounts = mountsOf(text, dirname(COMPOSE), vars).filter((m) => m.service === service && !relative(layout.dir, m.source).startsWith('..'));
      const files = (await Promise.all(mounts.map((m) => filesUnder(m.source)))).flat();
      for (const owner of owners) {
        assert.ok(files.some((f) => secretOwner(layout, f) === owner && f.endsWith('key.pem')), `${service} mounts its own key`);
        if (['authz', 'rating-api', 'redis'].includes(owner)) assert.ok(files.some((f) => secretOwner(layout, f) === owner && f.endsWith('redis-password')), `${service} mounts its Redis password`);
      }
    }
  });

  describe('finds the leak in a broken copy', () => {
    const broken: Array<[string, (t: string) => string, RegExp]> = [
      ['authz mounting jwt/ again', (t) => t.replace('/jwks:/pki/jwks:ro', '/jwt:/pki/jwt:ro'), /^authz: out\/jwt\/[^/]+\/key\.pem \(jwt's\)$/],
      ['authz mounting the whole PKI', (t) => t.replace('${ZT_PKI_HOST_DIR:-../pki/out}/authz:/pki/authz:ro', '${ZT_PKI_HOST_DIR:-../pki/out}:/pki:ro'), /^authz: out\/rating-api\/[^/]+\/key\.pem \(rating-api's\)$/],
      ['the rotator mounting the root key', (t) => t.replace('/pki:rw\n    depends_on:\n      pki-init: { condition: service_completed_successfully }\n      redis:', '/pki:rw\n      - ${ZT_PKI_ROOT_HOST_DIR:-../pki/root}:/pki-root:ro\n    depends_on:\n      pki-init: { condition: service_completed_successfully }\n      redis:'), /^cert-rotator: root\/root\.key \(root's\)$/],
      ['redis mounting the rating API\'s directory', (t) => t.replace('${ZT_PKI_HOST_DIR:-../pki/out}/redis:/pki/redis:ro', '${ZT_PKI_HOST_DIR:-../pki/out}/rating-api:/pki/redis:ro'), /^redis: out\/rating-api\/[^/]+\/redis-password \(rating-api's\)$/],
    ];
    for (const [what, edit, expected] of broken) {
      it(what, async () => {
        const copy = edit(text);
        assert.notEqual(copy, text, 'the edit applies to the shipped file');
        const found = await foreignSecrets(copy, layout, vars);
        assert.ok(found.some((f) => expected.test(f)), found.join('\n') || 'nothing found');
      });
    }
  });
});
