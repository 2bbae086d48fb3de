/**
 * Runs the rating API for a test as main.ts runs it (startService: loadConfig, createDeps,
 * buildApp, listen) on 127.0.0.1 port 0 with the test PKI, and makes requests with the certificate
 * of whichever workload a test speaks as (an edge, a client, another service).
 */
import { Agent } from 'node:https';
import { Writable } from 'node:stream';
import request from 'supertest';
import { buildApp } from '../../../src/rating/app.js';
import { loadConfig, type RatingConfig } from '../../../src/rating/config.js';
import { createDeps, type RatingDeps } from '../../../src/rating/create-deps.js';
import type { RatingFeed } from '../../../src/rating/feed/rating-feed.js';
import type { RatingStore } from '../../../src/rating/rating-store.js';
import { createLogger, type Logger } from '../../../src/shared/logger.js';
import { startService, type ServiceDefinition } from '../../../src/shared/service.js';
import { loadTopology } from '../../../src/shared/topology.js';
import { WORKLOADS_YAML, type TestPki } from '../../helpers/given-pki.js';

export type Pem = { cert: string; key: string; ca: string };

/** Log lines a test can read back, parsed from pino's JSON output. */
export interface CapturedLogs {
  readonly destination: Writable;
  lines(): Record<string, unknown>[];
  withMsg(msg: string): Record<string, unknown>[];
}

export function captureLogs(): CapturedLogs {
  const raw: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer | string, _enc, done) {
      raw.push(chunk.toString());
      done();
    },
  });
  const lines = (): Record<string, unknown>[] =>
    raw
      .join('')
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { destination, lines, withMsg: (msg) => lines().filter((l) => l.msg === msg) };
}

/** The `x-zt-*` headers authz hands to the edge for a caller. */
export interface CallerHeaders {
  readonly subject?: string;
  readonly tenant?: string;
  readonly roles?: string;
  readonly client?: string;
}

export function ztHeaders(caller: CallerHeaders): Record<string, string> {
  const h: Record<string, string> = {};
  if (caller.subject !== undefined) h['x-zt-subject'] = caller.subject;
  if (caller.tenant !== undefined) h['x-zt-tenant'] = caller.tenant;
  if (caller.roles !== undefined) h['x-zt-roles'] = caller.roles;
  if (caller.client !== undefined) h['x-zt-client'] = caller.client;
  return h;
}

/** The committed topology, where the tests' SPIFFE IDs come from. */
export const TOPOLOGY = loadTopology(WORKLOADS_YAML);
const clientId = (region: string, name: string): string => `spiffe://${TOPOLOGY.trustDomain}/${region}/client/${name}`;

/** Demo callers, as authz describes them. */
export const ALICE: CallerHeaders = { subject: 'alice', tenant: 'acme', roles: 'rater', client: TOPOLOGY.workloads.get('client-alice')?.spiffeId ?? '' };
export const MODERATOR: CallerHeaders = { subject: 'mod', tenant: 'acme', roles: 'viewer,moderator', client: clientId('us-east', 'mod') };
export const ADMIN: CallerHeaders = { subject: 'ops', tenant: '', roles: 'platform_admin', client: clientId('eu-central', 'ops') };

/** The environment of a rating API on free loopback ports over a test PKI, plus `extra`. */
export function ratingEnv(pki: TestPki, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ZT_PKI_DIR: pki.dir, ZT_PKI_CONFIG: pki.configFile, RATING_LISTEN: '127.0.0.1:0', RATING_ADMIN_LISTEN: '127.0.0.1:0', ...extra };
}

/**
 * The service as main.ts defines it, with the test's logger and, when given, its store; `opened`
 * hears of the deps once they are open.
 */
export function ratingService(logger: Logger, options: { store?: RatingStore; feed?: RatingFeed; opened?: (deps: RatingDeps) => void } = {}): ServiceDefinition<RatingConfig, RatingDeps> {
  return {
    name: 'rating',
    loadConfig,
    async createDeps(config) {
      const deps = await createDeps(config, { logger, ...(options.store ? { store: options.store } : {}), ...(options.feed ? { feed: options.feed } : {}) });
      options.opened?.(deps);
      return deps;
    },
    buildApp,
  };
}

/** A running app with its store, its logs and a way to speak to it as a given workload. */
export interface RunningApi {
  readonly port: number;
  readonly adminPort: number;
  readonly store: RatingStore;
  readonly logs: CapturedLogs;
  /** A supertest client that presents `workload`'s certificate (default `edge-us-east`). */
  as(workload?: string): WorkloadClient;
  /** Stops the service as a signal would: listeners, certificate watch, store. */
  close(): Promise<void>;
}

export interface WorkloadClient {
  get(path: string): request.Test;
  post(path: string): request.Test;
  put(path: string): request.Test;
  patch(path: string): request.Test;
  delete(path: string): request.Test;
  options(path: string): request.Test;
  head(path: string): request.Test;
}

/**
 * Starts the service over the test PKI with the given store (and feed, else one the store does not
 * publish to); `env` adds or overrides settings.
 */
export async function startApi(pki: TestPki, store: RatingStore, env: NodeJS.ProcessEnv = {}, feed?: RatingFeed): Promise<RunningApi> {
  const logs = captureLogs();
  const logger = createLogger('rating', { level: 'debug', destination: logs.destination });
  const running = await startService(ratingService(logger, { store, ...(feed ? { feed } : {}) }), ratingEnv(pki, env));
  const port = running.ports.port ?? 0;
  // By name: leaves carry DNS SANs only, no IP SAN (README, "The PKI").
  const base = `https://localhost:${port}`;
  const agents: Agent[] = [];
  const clients = new Map<string, WorkloadClient>();
  const pems = new Map<string, Pem>();
  for (const w of ['edge-us-east', 'edge-eu-central', 'client-alice', 'client-bob', 'authz', 'rating-api']) pems.set(w, await pki.tls(w));
  return {
    port,
    adminPort: running.ports.admin_port ?? 0,
    store,
    logs,
    as(workload = 'edge-us-east') {
      const known = clients.get(workload);
      if (known) return known;
      const pem = pems.get(workload);
      if (!pem) throw new Error(`no test material for ${workload}`);
      // Keep-alive so that a test making many requests does not pay a handshake for each.
      const agent = new Agent({ keepAlive: true, maxSockets: 64, ...pem });
      agents.push(agent);
      const wrap = (t: request.Test): request.Test => t.agent(agent).ca(pem.ca).cert(pem.cert).key(pem.key);
      const client: WorkloadClient = {
        get: (p) => wrap(request(base).get(p)),
        post: (p) => wrap(request(base).post(p)),
        put: (p) => wrap(request(base).put(p)),
        patch: (p) => wrap(request(base).patch(p)),
        delete: (p) => wrap(request(base).delete(p)),
        options: (p) => wrap(request(base).options(p)),
        head: (p) => wrap(request(base).head(p)),
      };
      clients.set(workload, client);
      return client;
    },
    async close() {
      for (const a of agents) a.destroy();
      await running.stop();
    },
  };
}

/** `/v1/tenants/<tenant>/items/<item>/ratings[/<user>]` */
export function ratingsPath(tenant: string, item: string, user?: string): string {
  return `/v1/tenants/${tenant}/items/${item}/ratings${user === undefined ? '' : `/${user}`}`;
}
