import { parseSpiffeId, type SpiffeId } from '../shared/spiffe.js';
import { parseXfcc } from '../shared/xfcc.js';

/**
 * The client's identity from the XFCC header an edge forwarded: the `URI` of the last element, the
 * one the edge itself set (SANITIZE_SET leaves only that one; with APPEND_FORWARD earlier elements
 * are other proxies' and prove nothing). It must be exactly one SPIFFE ID of the project's shape, in
 * the trust domain, of kind `client`: the edge accepts only client certificates, so anything else
 * is a garbled or forged header. Undefined means `no_client_cert`.
 */
export function clientFromXfcc(header: string | string[] | undefined, trustDomain: string): SpiffeId | undefined {
  if (typeof header !== 'string' || header === '') return undefined;
  let last;
  try {
    last = parseXfcc(header).at(-1);
  } catch {
    return undefined;
  }
  if (last === undefined || last.uri.length !== 1) return undefined;
  const id = parseSpiffeId(last.uri[0] ?? '');
  if (id === undefined || id.trustDomain !== trustDomain || id.kind !== 'client') return undefined;
  return id;
}
