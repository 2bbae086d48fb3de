import type { IncomingHttpHeaders } from 'node:http';
import type { SpiffeId } from '../shared/spiffe.js';
import { parseQuery, pathSegments, type ClientTarget } from './check-url.js';
import type { Claims } from './jwt/claims.js';
import type { PolicyInput } from './policy/policy-engine.js';

// Headers the policy may see: information about the request, never the credentials.
const POLICY_HEADERS = ['host', 'x-request-id', 'content-type', 'content-length'] as const;

/** What a check has established by the time the policy is asked. */
export interface CheckFacts {
  readonly method: string;
  readonly target: ClientTarget;
  readonly headers: IncomingHttpHeaders;
  readonly requestId: string;
  /** The calling edge, from its certificate. */
  readonly edge: SpiffeId;
  /** The client, from the last XFCC element. */
  readonly source: SpiffeId;
  /** The verified token's claims; undefined when no token came. */
  readonly claims: Claims | undefined;
  /** Whether the token is bound to the presenting certificate (token-binding.ts). */
  readonly bound: boolean;
  readonly nowMs: number;
}

/**
 * The policy's input (DESIGN.md, "Policy") for one check: the client's request as the edge will
 * forward it, the identities read from certificates, the verified claims and the time. Nothing in
 * it comes from a header a client could set, except the request's own information headers.
 */
export function policyInput(facts: CheckFacts): PolicyInput {
  const { target, edge, source, claims } = facts;
  return {
    request: {
      method: facts.method,
      path: target.path,
      segments: pathSegments(target.path),
      query: parseQuery(target.rawQuery),
      headers: policyHeaders(facts.headers),
      id: facts.requestId,
    },
    edge: { spiffe_id: edge.uri, region: edge.region },
    source: { spiffe_id: source.uri, region: source.region, kind: source.kind, name: source.name },
    token: claims === undefined ? null : { claims, bound: facts.bound },
    now_ms: facts.nowMs,
  };
}

function policyHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of POLICY_HEADERS) {
    // An HTTP/2 check (Envoy's) names the host in :authority and sends no Host header.
    const v = name === 'host' ? (headers.host ?? headers[':authority']) : headers[name];
    if (typeof v === 'string') out[name] = v;
  }
  return out;
}
