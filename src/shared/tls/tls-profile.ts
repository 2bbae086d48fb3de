/**
 * The TLS every listener here terminates with, and every client here speaks: Mozilla's
 * "intermediate" profile without its DHE suites, i.e. TLS 1.3, or TLS 1.2 with ECDHE and an AEAD
 * cipher only (forward secrecy, no CBC, no static RSA). envoy/envoy.yaml's `tls_params` carry the
 * same TLS 1.2 list under the same OpenSSL/BoringSSL names, and a test holds the two equal.
 */

/** The TLS 1.2 suites, in preference order (OpenSSL and BoringSSL spell them alike). */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
] as const;

/** The TLS 1.3 suites (all three are AEAD; listed so Node's cipher string names every suite it allows). */
export const TLS13_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'] as const;

/** The options a Node TLS server or client context takes for this profile. */
export const TLS_PROFILE = Object.freeze({
  minVersion: 'TLSv1.2' as const,
  ciphers: [...TLS13_CIPHERS, ...TLS12_CIPHERS].join(':'),
  honorCipherOrder: true,
});

/** id-kp-clientAuth (RFC 5280 4.2.1.12): what a certificate must allow to be a TLS client here. */
export const CLIENT_AUTH_EKU = '1.3.6.1.5.5.7.3.2';
