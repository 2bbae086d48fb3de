import { parseSpiffeId, type SpiffeId } from '../shared/spiffe.js';
import { certAllowsClientAuth } from './client-cert-eku.js';
import { parseXfcc } from '../shared/xfcc.js';

/** The client an edge vouches for: its identity, and which certificate it presented. */
export interface XfccClient {
  readonly id: SpiffeId;
  /**
   * XFCC's `Hash`: the SHA-256 of the client certificate's DER, lowercase hex, as the edge computed
   * it; undefined when the element has none (an edge always sets it). Token binding compares it.
   */
  readonly certSha256: string | undefined;
}

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * The client's identity from the XFCC header an edge forwarded: the `URI` of the last element, the
 * one the edge itself set (SANITIZE_SET leaves only that one; with APPEND_FORWARD earlier elements
 * are other proxies' and prove nothing). It must be exactly one SPIFFE ID of the project's shape, in
 * the trust domain, of kind `client`: the edge accepts only client certificates, so anything else
 * is a garbled or forged header. When the element carries the certificate itself (`Cert`), it must
 * be the one `Hash` names and allow TLS client authentication (client-cert-eku.ts). Undefined means
 * `no_client_cert`. A `Hash` that is not a SHA-256 in hex is treated as absent.
 */
export function clientFromXfcc(header: string | string[] | undefined, trustDomain: string): XfccClient | undefined {
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
  const hash = last.hash?.toLowerCase();
  const certSha256 = hash !== undefined && SHA256_HEX.test(hash) ? hash : undefined;
  if (last.cert !== undefined && !certAllowsClientAuth(last.cert, certSha256)) return undefined;
  return { id, certSha256 };
}
