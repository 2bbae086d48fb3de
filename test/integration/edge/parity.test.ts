import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { loadEnvoyConfig, type EnvoyEdgeConfig, type StringMatcher } from '../../../src/edge/envoy-config.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { REPO_ROOT } from '../../helpers/run-script.js';
import { ENVOY_YAML } from './given-edge.js';

/**
 * The contract's literal values (DESIGN.md, "Request flow", "Check request" and "Responses"), which
 * the running edge, envoy.yaml and DESIGN.md must all agree on.
 */
const CONTRACT = {
  pathPrefix: '/check',
  timeoutMs: 250,
  failureModeAllow: false,
  requestHeaders: ['authorization', 'x-forwarded-client-cert', 'x-request-id', 'host', 'content-type', 'content-length'],
  upstreamHeaders: ['x-zt-subject', 'x-zt-tenant', 'x-zt-roles', 'x-zt-client'],
  clientHeadersOnSuccess: ['x-ratelimit-limit', 'x-ratelimit-remaining', 'x-ratelimit-reset'],
  removedPrefixes: ['x-zt-'],
  xfcc: { mode: 'SANITIZE_SET', subject: true, uri: true, hash: true },
} as const;

/** Where DESIGN.md may be: in the repo, or beside the checkout as in the development workspace. */
const DESIGN_CANDIDATES = [process.env.DESIGN_MD, resolve(REPO_ROOT, 'DESIGN.md'), resolve(REPO_ROOT, 'docs/DESIGN.md'), resolve(REPO_ROOT, '../shared/DESIGN.md')];

interface ConfigDump {
  authz: EnvoyEdgeConfig['authz'];
  removedRequestHeaderPrefixes: string[];
  xfcc: EnvoyEdgeConfig['xfcc'];
  upstream: { routeTimeoutMs: number; spiffeId: string };
  self: string;
}

describe('dev edge: parity with envoy/envoy.yaml and DESIGN.md', () => {
  let pki: TestPki;
  let child: ChildProcess | undefined;
  let dump: ConfigDump;
  let yaml: EnvoyEdgeConfig;

  before(async () => {
    pki = await givenPki();
    yaml = await loadEnvoyConfig(ENVOY_YAML);
    // The real entry point, as `node dist/edge/main.js` runs (through tsx here: no build needed).
    child = spawn(process.execPath, ['--import', 'tsx', resolve(REPO_ROOT, 'src/edge/main.ts')], {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        ZT_PKI_DIR: pki.dir,
        EDGE_REGION: 'eu-central',
        EDGE_LISTEN: '127.0.0.1:0',
        EDGE_ADMIN_LISTEN: '127.0.0.1:0',
        ENVOY_CONFIG: ENVOY_YAML,
        AUTHZ_URL: 'https://127.0.0.1:9',
        RATING_URL: 'https://127.0.0.1:9',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const adminPort = await listeningAdminPort(child);
    const res = await fetch(`http://127.0.0.1:${adminPort}/config_dump`);
    assert.equal(res.status, 200);
    dump = (await res.json()) as ConfigDump;
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status, 200);
  });

  after(async () => {
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      process.kill(child.pid, 'SIGTERM');
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0, 'the edge exits 0 on SIGTERM');
    }
    await pki.cleanup();
  });

  it('runs with exactly the ext_authz settings envoy.yaml holds', () => {
    assert.deepEqual(dump.authz.pathPrefix, yaml.authz.pathPrefix);
    assert.deepEqual(dump.authz.timeoutMs, yaml.authz.timeoutMs);
    assert.deepEqual(dump.authz.statusOnError, yaml.authz.statusOnError);
    assert.deepEqual(dump.authz.failureModeAllow, yaml.authz.failureModeAllow);
    assert.deepEqual(dump.authz.allowedRequestHeaders, yaml.authz.allowedRequestHeaders);
    assert.deepEqual(dump.authz.allowedUpstreamHeaders, yaml.authz.allowedUpstreamHeaders);
    assert.deepEqual(dump.authz.allowedClientHeaders, yaml.authz.allowedClientHeaders);
    assert.deepEqual(dump.authz.allowedClientHeadersOnSuccess, yaml.authz.allowedClientHeadersOnSuccess);
    assert.deepEqual(dump.removedRequestHeaderPrefixes, yaml.removedRequestHeaderPrefixes);
    assert.deepEqual(dump.xfcc, yaml.xfcc);
  });

  it('runs with the literal values of the contract', () => {
    assert.equal(dump.authz.pathPrefix, CONTRACT.pathPrefix);
    assert.equal(dump.authz.timeoutMs, CONTRACT.timeoutMs);
    assert.equal(dump.authz.failureModeAllow, CONTRACT.failureModeAllow);
    assert.deepEqual(exactNames(dump.authz.allowedRequestHeaders), CONTRACT.requestHeaders);
    assert.deepEqual(exactNames(dump.authz.allowedUpstreamHeaders), CONTRACT.upstreamHeaders);
    assert.deepEqual(exactNames(dump.authz.allowedClientHeadersOnSuccess), CONTRACT.clientHeadersOnSuccess);
    assert.deepEqual(dump.removedRequestHeaderPrefixes, CONTRACT.removedPrefixes);
    assert.deepEqual(dump.xfcc, CONTRACT.xfcc);
    assert.equal(dump.self, 'spiffe://zt.local/eu-central/edge/envoy', 'the edge speaks for the region of its own certificate');
    assert.equal(dump.upstream.spiffeId, 'spiffe://zt.local/global/svc/rating-api');
  });

  it('uses the route timeout envoy.yaml gives the rating_api route', () => {
    // Read straight from the file as well, so a reader bug cannot hide a drift.
    const m = /route:\s*\n\s*cluster: rating_api\s*\n\s*timeout: (\d+)s/.exec(readFileSync(ENVOY_YAML, 'utf8'));
    assert.ok(m, 'envoy.yaml routes to rating_api with a timeout');
    assert.equal(dump.upstream.routeTimeoutMs, Number(m[1]) * 1000);
  });

  it('matches what DESIGN.md states for the check request and the 200 response', function () {
    const file = DESIGN_CANDIDATES.find((f): f is string => f !== undefined && existsSync(f));
    if (file === undefined) this.skip();
    const design = readFileSync(file, 'utf8');
    assert.match(design, /path_prefix \/check\b/);
    assert.match(design, /the path is `\/check` followed by the original path and query/);
    assert.match(design, /a 250 ms authz timeout/);
    const forwarded = /the forwarded headers are ([^\n]+\n[^\n]+)/.exec(design)?.[1] ?? '';
    assert.deepEqual(backticked(forwarded), CONTRACT.requestHeaders);
    const allowRow = /\| 200 \| allow \| ([^\n]+)/.exec(design)?.[1] ?? '';
    assert.deepEqual(backticked(allowRow), [...CONTRACT.upstreamHeaders, ...CONTRACT.clientHeadersOnSuccess]);
  });
});

function exactNames(list: readonly StringMatcher[]): string[] {
  return list.map((m) => ('exact' in m ? m.exact : JSON.stringify(m)));
}

function backticked(text: string): string[] {
  return [...text.matchAll(/`([^`]+)`/g)].flatMap((m) => (m[1] ?? '').split('/'));
}

/** Reads the edge's stdout until its "edge listening" line and returns the admin port from it. */
async function listeningAdminPort(child: ChildProcess): Promise<number> {
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const exited = once(child, 'exit').then(() => {
    throw new Error(`the edge exited during start: ${stderr}`);
  });
  const found = (async () => {
    for await (const line of lines) {
      const entry = JSON.parse(line) as { msg?: string; admin_port?: number };
      if (entry.msg === 'edge listening' && typeof entry.admin_port === 'number') return entry.admin_port;
    }
    throw new Error(`the edge never said it was listening: ${stderr}`);
  })();
  return Promise.race([found, exited]);
}
