import { generateKeyPair as generateKeyPairCb, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';

const generateKeyPair = promisify(generateKeyPairCb);

/** An RSA key pair: generated natively; the public half also in forge form for building certificates. */
export interface KeyPair {
  readonly privatePem: string;
  readonly privateKey: KeyObject;
  readonly forgePublic: forge.pki.rsa.PublicKey;
}

/**
 * Generates an RSA key with node:crypto. Generation runs on libuv's thread pool, so several keys
 * generated at once use every core; prime search in JavaScript (forge) would be many times slower.
 */
export async function generateRsaKey(bits: number): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('rsa', { modulusLength: bits, publicExponent: 0x10001 });
  const privatePem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return {
    privatePem,
    privateKey,
    forgePublic: forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString()),
  };
}

/** Generates the ES256 (P-256) key that signs JWTs, as a PKCS#8 PEM. */
export async function generateEs256Key(): Promise<string> {
  const { privateKey } = await generateKeyPair('ec', { namedCurve: 'P-256' });
  return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}
