/**
 * The one check on the client certificate that the real edge cannot make: Envoy (BoringSSL) takes a
 * client certificate without any extended key usage for "any use" and has no setting to refuse it,
 * where Node's listeners refuse it (createMtlsServer). So the edge forwards the certificate itself
 * in XFCC (`Cert`, URL-encoded PEM; envoy.yaml `set_current_client_cert_details.cert`) and the
 * policy service refuses one whose EKU does not allow TLS client authentication. The verdict is
 * kept per certificate hash: a client's certificate is read once, not on every request.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { CLIENT_AUTH_EKU } from '../shared/tls/tls-profile.js';

/** Certificates whose verdict is kept; clients rotate daily, so this holds every live one many times over. */
const MAX_KEPT = 10_000;

const verdicts = new Map<string, boolean>();

/**
 * Whether the certificate in XFCC's `Cert` (`urlEncodedPem`) allows clientAuth. False as well when it
 * cannot be read or is not the certificate XFCC's `Hash` names (`sha256Hex`, lowercase hex).
 */
export function certAllowsClientAuth(urlEncodedPem: string, sha256Hex: string | undefined): boolean {
  if (sha256Hex === undefined) return false;
  const kept = verdicts.get(sha256Hex);
  if (kept !== undefined) return kept;
  const verdict = readVerdict(urlEncodedPem, sha256Hex);
  if (verdicts.size >= MAX_KEPT) verdicts.delete(verdicts.keys().next().value ?? '');
  verdicts.set(sha256Hex, verdict);
  return verdict;
}

function readVerdict(urlEncodedPem: string, sha256Hex: string): boolean {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(decodeURIComponent(urlEncodedPem));
  } catch {
    return false;
  }
  if (createHash('sha256').update(cert.raw).digest('hex') !== sha256Hex) return false;
  return Array.isArray(cert.keyUsage) && cert.keyUsage.includes(CLIENT_AUTH_EKU);
}
