import { Agent } from 'node:https';
import supertest from 'supertest';
import { mintToken, type TokenClaims } from '../../src/pki/token.js';
import { startStack, type RunningStack, type StackOptions } from '../../src/stack/stack.js';
import { givenPki, type TestPki } from '../helpers/given-pki.js';

/** Every port 0: the stack picks free ones, so suites never collide. */
const FREE_PORTS = {
  edgeUsEast: 0,
  edgeUsEastAdmin: 0,
  edgeEuCentral: 0,
  edgeEuCentralAdmin: 0,
  authz: 0,
  authzAdmin: 0,
  rating: 0,
  ratingAdmin: 0,
} as const;

export type Region = 'us-east' | 'eu-central';

/** The embedded stack, started by a test in a temp PKI, with request helpers for its edges. */
export interface TestStack {
  readonly stack: RunningStack;
  readonly pki: TestPki;
  /** Every line the children and the runner printed, in order. */
  readonly lines: string[];
  edgePort(region: Region): number;
  /** A fresh ES256 token (alice's claims unless overridden). */
  token(claims?: Partial<TokenClaims>, ttlMs?: number): Promise<string>;
  /** supertest against an edge, presenting `client`'s certificate (a workload of the PKI). */
  edge(region: Region, client?: string): Promise<EdgeClient>;
  stop(): Promise<void>;
}

export interface EdgeClient {
  get(path: string): supertest.Test;
  post(path: string): supertest.Test;
  del(path: string): supertest.Test;
  put(path: string): supertest.Test;
  /** The agent's keep-alive sockets, destroyed on stop. */
  readonly agent: Agent;
}

export const ALICE: TokenClaims = { sub: 'alice', tenant: 'acme', roles: ['rater'], region: 'us-east', tier: 'enterprise' };
export const BOB: TokenClaims = { sub: 'bob', tenant: 'globex', roles: ['rater'], region: 'eu-central', tier: 'starter' };

/** Starts the whole stack as `npm start` does, on free ports, in a fresh PKI. */
export async function givenStack(options: Pick<StackOptions, 'redis' | 'rotateIntervalMs' | 'env'> = {}): Promise<TestStack> {
  const pki = await givenPki();
  const lines: string[] = [];
  let stack: RunningStack;
  try {
    stack = await startStack({
      pkiDir: pki.dir,
      pkiConfig: pki.configFile,
      ports: FREE_PORTS,
      rotateIntervalMs: options.rotateIntervalMs ?? 0,
      output: (line) => lines.push(line),
      readyTimeoutMs: 120_000,
      ...(options.redis === undefined ? {} : { redis: options.redis }),
      ...(options.env === undefined ? {} : { env: options.env }),
    });
  } catch (err) {
    process.stderr.write(`${lines.slice(-40).join('\n')}\n`);
    await pki.cleanup();
    throw err;
  }
  const agents: Agent[] = [];
  return {
    stack,
    pki,
    lines,
    edgePort: (region) => (region === 'us-east' ? stack.ports.edgeUsEast : stack.ports.edgeEuCentral),
    token: (claims = {}, ttlMs = 10 * 60_000) =>
      mintToken(pki.layout, { ...ALICE, ...claims }, { issuer: 'https://idp.zt.local', audience: 'rating-api', ttlMs, maxTtlMs: pki.spec.jwt.maxTokenTtlMs }),
    async edge(region, client = 'client-alice') {
      const { cert, key, ca } = await pki.tls(client);
      // A keep-alive pool, as a real client holds: concurrent requests share a few connections
      // instead of each paying a full mTLS handshake.
      const agent = new Agent({ keepAlive: true, maxSockets: 16, cert, key, ca, servername: 'localhost' });
      agents.push(agent);
      const base = supertest(`https://127.0.0.1:${region === 'us-east' ? stack.ports.edgeUsEast : stack.ports.edgeEuCentral}`);
      const over = (t: supertest.Test): supertest.Test => t.agent(agent).ca(ca).cert(cert).key(key);
      return {
        agent,
        get: (path) => over(base.get(path)),
        post: (path) => over(base.post(path)),
        del: (path) => over(base.delete(path)),
        put: (path) => over(base.put(path)),
      };
    },
    async stop() {
      for (const a of agents) a.destroy();
      await stack.stop();
      await pki.cleanup();
    },
  };
}

/** The ratings path of an item of a tenant. */
export function ratingsPath(item: string, tenant = 'acme'): string {
  return `/v1/tenants/${tenant}/items/${item}/ratings`;
}
