/**
 * Fixtures for the policy service tests: a fresh PKI, the real compiled policy, the real service
 * started as `main.ts` starts it (`startService` over loadConfig/createDeps/buildApp) on 127.0.0.1
 * port 0, its decision log captured, and clients that speak to it as an edge would (mTLS with an
 * edge certificate, XFCC set).
 */
import { connect as h2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import { importPKCS8, SignJWT, type JWTPayload } from 'jose';
import { buildApp } from '../../../src/authz/app.js';
import type { Clock } from '../../../src/authz/clock.js';
import { loadConfig, type AuthzConfig } from '../../../src/authz/config.js';
import { createDeps, type AuthzDeps, type AuthzDepsOverrides } from '../../../src/authz/create-deps.js';
import { createLogger } from '../../../src/shared/logger.js';
import { startService } from '../../../src/shared/service.js';
import { JWT_AUDIENCE, JWT_ISSUER } from '../../../src/shared/settings/common-settings.js';
import { x5tS256 } from '../../../src/shared/pki/cert-thumbprint.js';
import { readWorkloadMaterial } from '../../../src/shared/pki/workload-material.js';
import { formatXfccElement } from '../../../src/shared/xfcc.js';
import { readSigningKey, JWT_ALG } from '../../../src/pki/jwt-keys.js';
import { mintToken, type TokenClaims } from '../../../src/pki/token.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';

/** The `iss` and `aud` the service requires by default (JWT_ISSUER, JWT_AUDIENCE). */
export const ISSUER = JWT_ISSUER.default ?? '';
export const AUDIENCE = JWT_AUDIENCE.default ?? '';

/** The protocols the check listener speaks: Envoy's authz cluster uses h2, the dev edge HTTP/1.1. */
export const CHECK_PROTOCOLS = ['http/1.1', 'h2'] as const;
export type CheckProtocol = (typeof CHECK_PROTOCOLS)[number];

/** The demo users of DESIGN.md, as token claims. */
export const ALICE: TokenClaims = { sub: 'alice', tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'free' };
export const BOB: TokenClaims = { sub: 'bob', tenant: 'globex', roles: ['rater'], region: 'eu-central', tier: 'starter' };

/** A clock a test can move. */
export class TestClock implements Clock {
  constructor(public ms = Date.now()) {}
  nowMs(): number {
    return this.ms;
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface GivenAuthzOptions {
  /** Settings over the test defaults (PKI dir, port 0, policy files are filled in). */
  readonly env?: Record<string, string>;
  readonly clock?: Clock;
  /** Reuse a PKI (e.g. to start a second service on it); otherwise a fresh one is made. */
  readonly pki?: TestPki;
  readonly deps?: AuthzDepsOverrides;
}

/** A running policy service and what a test needs to talk to it. */
export interface RunningAuthz {
  readonly pki: TestPki;
  readonly config: AuthzConfig;
  readonly deps: AuthzDeps;
  readonly port: number;
  readonly adminPort: number;
  readonly url: string;
  /** Every log line the service wrote, parsed. */
  readonly logs: Array<Record<string, unknown>>;
  /** The `msg: "decision"` lines only. */
  decisions(): Array<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Builds and starts the real service; the caller closes it in `after`. */
export async function givenAuthz(options: GivenAuthzOptions = {}): Promise<RunningAuthz> {
  await givenBuiltPolicy();
  const pki = options.pki ?? (await givenPki());
  const logs: Array<Record<string, unknown>> = [];
  let config: AuthzConfig | undefined;
  let deps: AuthzDeps | undefined;
  const running = await startService(
    {
      name: 'authz',
      loadConfig: (env) => (config = loadConfig(env)),
      createDeps: async (c) => {
        const logger = createLogger('authz', {
          level: c.logLevel,
          destination: {
            write(line: string) {
              logs.push(JSON.parse(line) as Record<string, unknown>);
            },
          },
        });
        deps = await createDeps(c, { logger, ...(options.clock ? { clock: options.clock } : {}), ...options.deps });
        return deps;
      },
      buildApp,
    },
    {
      ZT_PKI_DIR: pki.dir,
      ZT_PKI_CONFIG: pki.configFile,
      AUTHZ_LISTEN: '127.0.0.1:0',
      AUTHZ_ADMIN_LISTEN: '127.0.0.1:0',
      POLICY_WASM: wasmPath,
      POLICY_DATA: dataPath,
      LOG_LEVEL: 'debug',
      ...options.env,
    },
  );
  const port = running.ports.port ?? 0;
  return {
    pki,
    config: config!,
    deps: deps!,
    port,
    adminPort: running.ports.admin_port ?? 0,
    // By name: leaves carry DNS SANs only, no IP SAN (README, "The PKI").
    url: `https://localhost:${port}`,
    logs,
    decisions: () => logs.filter((l) => l.msg === 'decision'),
    async close() {
      await running.stop();
      if (options.pki === undefined) await pki.cleanup();
    },
  };
}

/**
 * The client certificate hash {@link xfccFor} puts in XFCC (`Hash`, hex SHA-256), as if the edge had
 * seen that certificate, and the same digest as a token's `cnf` (base64url): tokens from
 * {@link tokenFor} and {@link standardClaims} are bound to it unless a test says otherwise, since
 * acme requires bound tokens (policies/data.json).
 */
export const CLIENT_CERT_SHA256 = 'c0ffee'.repeat(10) + 'c0ff';
export const CLIENT_CERT_X5T = Buffer.from(CLIENT_CERT_SHA256, 'hex').toString('base64url');

/** The XFCC element an edge sets for a client workload (`client-alice`, `client-bob`...). */
export function xfccFor(pki: TestPki, client: string, edge = 'edge-us-east', hash = CLIENT_CERT_SHA256): string {
  return formatXfccElement({
    by: pki.spiffeId(edge),
    hash,
    subject: `CN=${client},O=${pki.spec.trustDomain}`,
    uri: pki.spiffeId(client),
  });
}

/** The RFC 8705 thumbprint of a workload's current certificate, for a token the real edge will check against it. */
export async function x5tOf(pki: TestPki, workload: string): Promise<string> {
  return x5tS256((await readWorkloadMaterial(pki.layout, workload)).leaf);
}

/** A token for `claims` signed with the PKI's current JWT key, bound to {@link CLIENT_CERT_X5T} unless `boundTo` is null. */
export function tokenFor(pki: TestPki, claims: TokenClaims = ALICE, now?: Date, ttlMs = 600_000, boundTo: string | null = CLIENT_CERT_X5T): Promise<string> {
  return mintToken(pki.layout, claims, { issuer: ISSUER, audience: AUDIENCE, ttlMs, maxTtlMs: 3_600_000, ...(now ? { now } : {}), ...(boundTo === null ? {} : { boundTo }) });
}

/**
 * A token with any payload and header, signed with the PKI's current JWT key unless `key` says
 * otherwise: for the attacks that need a real signature over a wrong claim.
 */
export async function signedToken(pki: TestPki, payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  const { kid, keyPem } = await readSigningKey(pki.layout);
  const key = await importPKCS8(keyPem, JWT_ALG);
  return new SignJWT(payload).setProtectedHeader({ alg: JWT_ALG, kid, typ: 'JWT', ...header }).sign(key);
}

/** Standard claims around `nowS` for {@link signedToken}, bound to {@link CLIENT_CERT_X5T}. */
export function standardClaims(nowS = Math.floor(Date.now() / 1000), extra: JWTPayload = {}): JWTPayload {
  return { ...ALICE, iss: ISSUER, aud: AUDIENCE, iat: nowS, nbf: nowS, exp: nowS + 600, cnf: { 'x5t#S256': CLIENT_CERT_X5T }, ...extra };
}

/** One answer of the service. */
export interface CheckResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  json(): Record<string, unknown>;
}

/**
 * Talks to the service as an edge does: mTLS with a workload's certificate over one keep-alive
 * agent (HTTP/1.1, the dev edge's way) or one HTTP/2 session (Envoy's), raw requests so that many
 * requests are cheap and any header value can be sent.
 */
export class EdgeClient {
  readonly agent: Agent;
  #session: ClientHttp2Session | undefined;

  private constructor(
    private readonly port: number,
    private readonly tls: { cert: string; key: string; ca: string },
    private readonly protocol: CheckProtocol,
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: 4, ...tls });
  }

  static async create(running: RunningAuthz, workload = 'edge-us-east', protocol: CheckProtocol = 'http/1.1'): Promise<EdgeClient> {
    return new EdgeClient(running.port, await running.pki.tls(workload), protocol);
  }

  check(method: string, path: string, headers: Record<string, string | string[]> = {}): Promise<CheckResponse> {
    return this.protocol === 'h2' ? this.#checkH2(method, path, headers) : this.#checkH1(method, path, headers);
  }

  #checkH1(method: string, path: string, headers: Record<string, string | string[]>): Promise<CheckResponse> {
    return new Promise((resolve, reject) => {
      // servername: the TLS identity to verify, whatever Host header a test sends.
      const req = httpsRequest({ host: '127.0.0.1', port: this.port, servername: 'authz', method, path, headers, agent: this.agent });
      req.on('error', reject);
      req.on('response', (res) => collect(res, res.statusCode ?? 0, res.headers, resolve, reject));
      req.end();
    });
  }

  #checkH2(method: string, path: string, headers: Record<string, string | string[]>): Promise<CheckResponse> {
    this.#session ??= h2Connect(`https://127.0.0.1:${this.port}`, { servername: 'authz', ...this.tls });
    const stream = this.#session.request({ ':method': method, ':path': path, ...headers });
    return new Promise((resolve, reject) => {
      stream.on('error', reject);
      stream.on('response', (h) => collect(stream, Number(h[':status']), h, resolve, reject));
      stream.end();
    });
  }

  close(): void {
    this.agent.destroy();
    this.#session?.destroy();
  }
}

function collect(body: NodeJS.ReadableStream, status: number, headers: IncomingHttpHeaders, resolve: (r: CheckResponse) => void, reject: (e: Error) => void): void {
  const chunks: Buffer[] = [];
  body.on('data', (c: Buffer) => chunks.push(c));
  body.on('error', reject);
  body.on('end', () => {
    const text = Buffer.concat(chunks).toString('utf8');
    resolve({ status, headers, body: text, json: () => JSON.parse(text) as Record<string, unknown> });
  });
}

/** A supertest response's JSON body, typed for reading fields (supertest types it as any). */
export function bodyOf(res: { body: unknown }): Record<string, unknown> {
  return typeof res.body === 'object' && res.body !== null ? (res.body as Record<string, unknown>) : {};
}
