/**
 * The edge's HTTP ext_authz client, doing what Envoy's raw HTTP ext_authz client does with the
 * settings read from envoy.yaml: the client's method, `path_prefix` + the original path and query,
 * an empty body, only the allowed request headers (plus the two Envoy's async client adds), one
 * deadline for the whole exchange, and the authz response sorted into what goes upstream, what goes
 * to the client, what is a denial, and what is no decision at all (a 5xx, as in Envoy).
 */
import { request, type Agent } from 'node:https';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { isIP } from 'node:net';
import { matches, type EnvoyEdgeConfig } from './envoy-config.js';
import { EXPECTED_TIMEOUT_HEADER, INTERNAL_HEADER } from './envoy-headers.js';

/** What a check came to. */
export type CheckOutcome =
  | {
      readonly kind: 'allowed';
      /** The allowed_upstream_headers of the authz response, to set on the upstream request. */
      readonly upstreamHeaders: Readonly<Record<string, string | string[]>>;
      /** The allowed_client_headers_on_success, to add to the client's response. */
      readonly clientHeaders: Readonly<Record<string, string | string[]>>;
    }
  | {
      readonly kind: 'denied';
      readonly status: number;
      /** Only the allowed_client_headers of the authz response. */
      readonly headers: Readonly<Record<string, string | string[]>>;
      readonly body: Buffer;
    }
  | {
      /** No decision: authz was unreachable, too slow, failed (5xx) or said something unusable. Fail closed. */
      readonly kind: 'error';
      readonly reason: 'timeout' | 'connect' | 'response' | 'server_error';
      readonly error: Error;
    };

/** The part of the client's request a check is built from. */
export interface CheckInput {
  readonly method: string;
  /** The (normalised) path and query, as sent upstream. */
  readonly pathAndQuery: string;
  /** The client's headers after x-zt-* stripping and XFCC / x-request-id setting. */
  readonly headers: IncomingHttpHeaders;
}

/** A denial body larger than this is no decision (Envoy buffers it under its buffer limits too). */
const MAX_DENIAL_BODY = 64 * 1024;

/** Envoy always sends these to an HTTP authz service, whatever `allowed_headers` says. */
const ALWAYS_SENT = new Set(['host', 'authorization']);

export class AuthzClient {
  readonly #settings: EnvoyEdgeConfig['authz'];

  constructor(
    private readonly url: URL,
    settings: EnvoyEdgeConfig['authz'],
    private readonly agent: () => Agent,
  ) {
    this.#settings = settings;
  }

  /** The check request's headers for `input`, exactly as they go on the wire (for tests too). */
  checkHeaders(input: CheckInput): OutgoingHttpHeaders {
    const out: OutgoingHttpHeaders = {};
    for (const [name, value] of Object.entries(input.headers)) {
      if (value === undefined) continue;
      if (ALWAYS_SENT.has(name) || matches(this.#settings.allowedRequestHeaders, name)) out[name] = value;
    }
    // The check carries no body, and says so: a client's Content-Length would make authz wait for
    // bytes that never come.
    out['content-length'] = '0';
    delete out['transfer-encoding'];
    out[INTERNAL_HEADER] = 'true';
    out[EXPECTED_TIMEOUT_HEADER] = String(this.#settings.timeoutMs);
    return out;
  }

  /** Asks authz about one request. Never rejects: every failure is an `error` outcome. */
  check(input: CheckInput): Promise<CheckOutcome> {
    const settings = this.#settings;
    return new Promise((resolve) => {
      let settled = false;
      const finish = (outcome: CheckOutcome): void => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve(outcome);
      };
      const req = request({
        protocol: 'https:',
        hostname: this.url.hostname,
        port: this.url.port || 443,
        servername: isIP(this.url.hostname.replace(/^\[|\]$/g, '')) ? '' : this.url.hostname,
        method: input.method,
        path: `${settings.pathPrefix}${input.pathAndQuery}`,
        headers: this.checkHeaders(input),
        agent: this.agent(),
      });
      const deadline = setTimeout(() => {
        // Envoy's dispatcher runs the I/O that is ready before the timers that are due; Node runs
        // due timers first. So the deadline is called only after one more look at the sockets: an
        // answer authz sent in time, which a busy event loop had not read yet, wins as in Envoy.
        setImmediate(() => {
          if (settled) return;
          const err = new Error(`authz did not answer within ${settings.timeoutMs} ms`);
          finish({ kind: 'error', reason: 'timeout', error: err });
          req.destroy(err);
        });
      }, settings.timeoutMs);
      req.on('error', (error) => finish({ kind: 'error', reason: 'connect', error }));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status >= 500) {
          // Envoy's HTTP ext_authz client reads any 5xx as "no decision", not as a denial to pass on:
          // the client gets the edge's own unavailable answer, and none of authz's headers or body.
          res.resume();
          finish({ kind: 'error', reason: 'server_error', error: new Error(`authz answered ${status}`) });
          return;
        }
        if (status === 200) {
          // An allowing answer's body is ignored, as Envoy does; drain it so the socket is reused.
          res.resume();
          res.on('end', () =>
            finish({
              kind: 'allowed',
              upstreamHeaders: pick(res.headers, settings.allowedUpstreamHeaders),
              clientHeaders: pick(res.headers, settings.allowedClientHeadersOnSuccess),
            }),
          );
          res.on('error', (error) => finish({ kind: 'error', reason: 'response', error }));
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_DENIAL_BODY) {
            const err = new Error(`authz denial body exceeds ${MAX_DENIAL_BODY} bytes`);
            finish({ kind: 'error', reason: 'response', error: err });
            res.destroy(err);
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => finish({ kind: 'denied', status, headers: pick(res.headers, settings.allowedClientHeaders), body: Buffer.concat(chunks) }));
        res.on('error', (error) => finish({ kind: 'error', reason: 'response', error }));
      });
      req.end();
    });
  }
}

function pick(headers: IncomingHttpHeaders, allowed: EnvoyEdgeConfig['authz']['allowedUpstreamHeaders']): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && matches(allowed, name)) out[name] = value;
  }
  return out;
}
