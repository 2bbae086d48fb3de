import { constants, createPrivateKey, privateEncrypt, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import type { WorkloadKind } from '../shared/topology.js';
import type { KeyPair } from './keys.js';

const { pki, asn1 } = forge;
// Present in node-forge's util but missing from its type definitions.
const bytesFromIP = (ip: string): string | null => (forge.util as unknown as { bytesFromIP(ip: string): string | null }).bytesFromIP(ip);

/** id-ce-nameConstraints (RFC 5280 4.2.1.10); forge maps only the OID to the name, not back. */
const ID_CE_NAME_CONSTRAINTS = '2.5.29.30';


/** A CA as the issuer of further certificates: its certificate, and a signer for forge's `cert.sign`. */
export interface Issuer {
  readonly cert: forge.pki.Certificate;
  readonly key: forge.pki.rsa.PrivateKey;
}

/**
 * What forge's `cert.sign(key, md)` needs of a key: `sign(md)` returning the RSASSA-PKCS1-v1_5
 * signature of the digest as a binary string. forge builds the TBSCertificate and its digest; the
 * RSA private operation runs natively (node:crypto) instead of in forge's JavaScript big integers,
 * which is 20-40 times faster for a 3072-bit key.
 */
export function nativeSigner(key: KeyObject): forge.pki.rsa.PrivateKey {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      // DigestInfo ::= SEQUENCE { AlgorithmIdentifier { OID, NULL }, OCTET STRING digest } (RFC 8017 9.2)
      const digestInfo = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids[md.algorithm] ?? '').getBytes()),
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
        ]),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, md.digest().getBytes()),
      ]);
      const der = Buffer.from(asn1.toDer(digestInfo).getBytes(), 'binary');
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, der).toString('binary');
    },
  };
  // forge only calls sign() on the key it is handed; the rest of its RSA key shape is never read.
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/**
 * A random positive 128-bit serial, DER-minimal: the first byte is never zero, and a 0x00 is
 * prepended when the top bit is set so that the INTEGER stays positive (RFC 5280 4.1.2.2).
 */
export function randomSerialHex(): string {
  let bytes = randomBytes(16);
  while (bytes[0] === 0) bytes = randomBytes(16);
  const hex = bytes.toString('hex');
  return (bytes[0] ?? 0) >= 0x80 ? `00${hex}` : hex;
}

/** Signs the self-signed root CA certificate (CA:TRUE, keyCertSign + cRLSign). */
export function buildRootCert(opts: Validity & { commonName: string; trustDomain: string; keys: KeyPair }): string {
  const cert = baseCert(opts.keys, opts);
  const name = [
    { name: 'organizationName', value: opts.trustDomain },
    { name: 'commonName', value: opts.commonName },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  const ski = cert.generateSubjectKeyIdentifier().getBytes();
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: forge.util.bytesToHex(ski) },
  ]);
  cert.sign(nativeSigner(opts.keys.privateKey), forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

/**
 * Signs the intermediate CA: pathLen 0 (it may sign only leaves) and the name constraints of
 * {@link nameConstraintsDer}.
 */
export function buildIntermediateCert(
  opts: Validity & {
    commonName: string;
    trustDomain: string;
    keys: KeyPair;
    root: Issuer;
    permittedDns: readonly string[];
  },
): string {
  const cert = baseCert(opts.keys, opts);
  cert.setSubject([
    { name: 'organizationName', value: opts.trustDomain },
    { name: 'commonName', value: opts.commonName },
  ]);
  cert.setIssuer(opts.root.cert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, pathLenConstraint: 0, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    {
      id: ID_CE_NAME_CONSTRAINTS,
      critical: true,
      value: nameConstraints(opts.trustDomain, opts.permittedDns),
    },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: forge.util.bytesToHex(cert.generateSubjectKeyIdentifier().getBytes()) },
    { name: 'authorityKeyIdentifier', keyIdentifier: opts.root.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(opts.root.key, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

/**
 * Signs a workload leaf: exactly one URI SAN (the SPIFFE ID) plus its DNS SANs, CA:FALSE, and the
 * EKU of its kind. No IP SANs: see {@link nameConstraintsDer}.
 */
export function buildLeafCert(
  opts: Validity & {
    workload: string;
    kind: WorkloadKind;
    spiffeId: string;
    trustDomain: string;
    dns: readonly string[];
    keys: KeyPair;
    issuer: Issuer;
  },
): string {
  const cert = baseCert(opts.keys, opts);
  cert.setSubject([
    { name: 'organizationName', value: opts.trustDomain },
    { name: 'organizationalUnitName', value: opts.kind },
    { name: 'commonName', value: opts.workload },
  ]);
  cert.setIssuer(opts.issuer.cert.subject.attributes);
  const altNames = [
    { type: 6, value: opts.spiffeId },
    ...opts.dns.map((value) => ({ type: 2, value })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: opts.kind !== 'client', clientAuth: true },
    { name: 'subjectAltName', altNames },
    { name: 'subjectKeyIdentifier', subjectKeyIdentifier: forge.util.bytesToHex(cert.generateSubjectKeyIdentifier().getBytes()) },
    { name: 'authorityKeyIdentifier', keyIdentifier: opts.issuer.cert.generateSubjectKeyIdentifier().getBytes() },
  ]);
  cert.sign(opts.issuer.key, forge.md.sha256.create());
  return pki.certificateToPem(cert);
}

/** Parses a CA certificate and key from PEM into the forge form used for signing. */
export function issuerFromPem(certPem: string, keyPem: string): Issuer {
  return { cert: pki.certificateFromPem(certPem), key: nativeSigner(createPrivateKey(keyPem)) };
}

function baseCert(keys: KeyPair, validity: Validity): forge.pki.Certificate {
  const cert = pki.createCertificate();
  cert.publicKey = keys.forgePublic;
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = validity.notBefore;
  cert.validity.notAfter = validity.notAfter;
  return cert;
}

/** Every IPv4 and every IPv6 address, as the excluded iPAddress subtrees. */
const ALL_IPS = ['0.0.0.0/0', '::/0'];

/**
 * NameConstraints ::= SEQUENCE { permittedSubtrees [0], excludedSubtrees [1] } (RFC 5280
 * 4.2.1.10), chosen by probing both TLS stacks in the path (README, "The PKI"):
 * - permitted: the trust domain's URIs (a URI constraint names a host, so `zt.local` permits
 *   `spiffe://zt.local/...`) and the stack's DNS names; OpenSSL and BoringSSL both enforce these;
 * - excluded: every IP address. BoringSSL cannot evaluate IP constraints and fails any IP SAN under
 *   them, OpenSSL enforces the exclusion: so both refuse every IP SAN, and leaves carry none.
 * node-forge writes no nameConstraints of its own, so the value is built with its ASN.1 builder.
 */
function nameConstraints(trustDomain: string, dns: readonly string[]): forge.asn1.Asn1 {
  const subtree = (tag: number, value: string): forge.asn1.Asn1 =>
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      asn1.create(asn1.Class.CONTEXT_SPECIFIC, tag, false, value),
    ]);
  const permitted = [subtree(6, trustDomain), ...dns.map((name) => subtree(2, name))];
  const excluded = ALL_IPS.map((cidr) => subtree(7, cidrToBytes(cidr)));
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, permitted),
    asn1.create(asn1.Class.CONTEXT_SPECIFIC, 1, true, excluded),
  ]);
}

/** The DER of the name constraints an intermediate for this trust domain and these names carries. */
export function nameConstraintsDer(trustDomain: string, dns: readonly string[]): string {
  return asn1.toDer(nameConstraints(trustDomain, dns)).getBytes();
}

/** The DER of the name constraints an intermediate certificate carries, or undefined. */
export function nameConstraintsOf(certPem: string): string | undefined {
  const extensions = pki.certificateFromPem(certPem).extensions as Array<{ id?: string; value?: string }>;
  return extensions.find((e) => e.id === ID_CE_NAME_CONSTRAINTS)?.value;
}

/** `127.0.0.0/8` -> address bytes followed by mask bytes, as an iPAddress name constraint wants. */
function cidrToBytes(cidr: string): string {
  const [address, bitsText] = cidr.split('/');
  const addressBytes = address === undefined ? null : bytesFromIP(address);
  const bits = Number(bitsText);
  if (addressBytes === null || addressBytes === undefined || !Number.isInteger(bits) || bits < 0 || bits > addressBytes.length * 8) {
    throw new Error(`invalid CIDR ${JSON.stringify(cidr)}`);
  }
  let mask = '';
  for (let i = 0; i < addressBytes.length; i++) {
    const take = Math.max(0, Math.min(8, bits - i * 8));
    mask += String.fromCharCode((0xff << (8 - take)) & 0xff);
  }
  let masked = '';
  for (let i = 0; i < addressBytes.length; i++) masked += String.fromCharCode(addressBytes.charCodeAt(i) & mask.charCodeAt(i));
  return masked + mask;
}
