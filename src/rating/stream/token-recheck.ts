/**
 * The rating API's side of a stream token refresh: it asks authz to decide on the fresh token with
 * the check request the edge sent for the handshake (src/shared/stream/stream-recheck.ts), over
 * mTLS with its own certificate, accepting only authz's SPIFFE ID. So a refreshed token passes the
 * very verifier, policy, cross-region rule and buckets the handshake passed, including whatever
 * authz checks in the future, and no second copy of the JWT rules lives here.
 *
 * One connection per refresh (no keep-alive): a refresh comes once per token lifetime per stream,
 * and a fresh connection always presents the current certificate, with nothing to drain after a
 * rotation.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:https';
import { isIP } from 'node:net';
import { z } from 'zod';
import { STREAM_EDGE_HEADER } from '../../shared/stream/stream-recheck.js';
import { spiffeIdentityCheck } from '../../shared/tls/spiffe-identity-check.js';
import { TLS_PROFILE } from '../../shared/tls/tls-profile.js';
import type { WorkloadTls } from '../../shared/tls/workload-tls.js';
import { callerFrom, type Caller } from '../caller.js';
import { ratingError } from '../rating-errors.js';

/** What the stream knows of its handshake, to ask about a fresh token for the same request. */
export interface RecheckInput {
  /** The stream path, `/v1/tenants/{t}/items/{i}/ratings/stream`. */
  readonly path: string;
  readonly token: string;
  /** The XFCC header the edge set on the handshake (the client's verified certificate). */
  readonly xfcc: string;
  /** The SPIFFE ID of the edge the stream came through. */
  readonly edge: string;
}

export type RecheckOutcome =
  | { readonly kind: 'allowed'; readonly caller: Caller; readonly requestId: string }
  /** authz's reason code (`token_expired`, `cross_region`, `rate_limited`...). */
  | { readonly kind: 'denied'; readonly reason: string; readonly requestId: string };

const denialBody = z.object({ error: z.string().regex(/^[a-z_]{1,40}$/) });

/** Past this much, a denial body is not authz's `{error, request_id}`. */
const MAX_BODY = 4096;

export class TokenRecheck {
  constructor(
    private readonly authzUrl: URL,
    private readonly authzSpiffeId: string,
    private readonly tls: WorkloadTls,
    private readonly timeoutMs: number,
  ) {}

  /**
   * authz's decision on `input.token`. Rejects with 503 `unavailable` when there is none (authz
   * unreachable, too slow, a 5xx, an answer that is no decision), as an edge fails closed.
   */
  check(input: RecheckInput): Promise<RecheckOutcome> {
    const requestId = randomUUID();
    const host = this.authzUrl.hostname.replace(/^\[|\]$/g, '');
    const m = this.tls.material;
    return new Promise((resolve, reject) => {
      const fail = (cause: unknown): void => reject(ratingError('unavailable', { cause }));
      const req = request({
        host,
        port: this.authzUrl.port || 443,
        method: 'GET',
        path: `/check${input.path}`,
        servername: isIP(host) === 0 ? host : '',
        cert: m.cert,
        key: m.key,
        ca: m.ca,
        ...TLS_PROFILE,
        rejectUnauthorized: true,
        checkServerIdentity: spiffeIdentityCheck(this.authzSpiffeId),
        agent: false,
        timeout: this.timeoutMs,
        headers: {
          host: this.authzUrl.host,
          authorization: `Bearer ${input.token}`,
          'x-forwarded-client-cert': input.xfcc,
          'x-request-id': requestId,
          [STREAM_EDGE_HEADER]: input.edge,
          'content-length': '0',
        },
      });
      req.on('timeout', () => req.destroy(new Error(`authz did not answer within ${this.timeoutMs} ms`)));
      req.on('error', fail);
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_BODY) res.destroy(new Error(`authz answered more than ${MAX_BODY} bytes`));
          else chunks.push(c);
        });
        res.on('error', fail);
        res.on('end', () => {
          try {
            resolve(outcomeOf(status, res.headers, Buffer.concat(chunks).toString('utf8'), requestId));
          } catch (err) {
            fail(err);
          }
        });
      });
      req.end();
    });
  }
}

/** A 200 is an allow with the caller authz describes; a 4xx a denial with its reason; anything else no decision. */
function outcomeOf(status: number, headers: IncomingHttpHeaders, body: string, requestId: string): RecheckOutcome {
  if (status === 200) return { kind: 'allowed', caller: callerFrom(headers), requestId };
  if (status >= 400 && status < 500) return { kind: 'denied', reason: denialBody.parse(JSON.parse(body)).error, requestId };
  throw new Error(`authz answered ${status}`);
}
