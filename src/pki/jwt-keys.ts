import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { PRIVATE_MODE, PUBLIC_MODE, linkTarget, swapSymlink, writeFileAtomic, writeVersionDir } from './atomic-fs.js';
import { generateEs256Key } from './keys.js';
import type { PkiLayout } from '../shared/pki/pki-layout.js';
import type { Topology } from '../shared/topology.js';

/** The only algorithm the project signs tokens with. */
export const JWT_ALG = 'ES256';

const stateSchema = z.object({
  keys: z.array(z.object({ kid: z.string(), created_at: z.string(), retired_at: z.string().nullable() })),
});
type JwtState = z.infer<typeof stateSchema>;

export interface JwtRotation {
  readonly action: 'created' | 'renewed' | 'kept' | 'would_renew';
  readonly kid: string | undefined;
  /** Key ids published in jwks.json after this run. */
  readonly published: readonly string[];
  readonly removed: readonly string[];
}

/** The current signing key: its kid and PKCS#8 PEM, read through `jwt/current`. */
export async function readSigningKey(layout: PkiLayout): Promise<{ kid: string; keyPem: string }> {
  const kid = await linkTarget(layout.jwtCurrent);
  if (kid === undefined) {
    throw new ConfigError('pki_missing', `no JWT signing key: ${layout.jwtCurrent} does not exist (run: pki init)`);
  }
  const file = join(layout.jwtDir, kid, 'key.pem');
  try {
    return { kid, keyPem: await readFile(file, 'utf8') };
  } catch (err) {
    throw new ConfigError('pki_missing', `cannot read JWT signing key ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

/**
 * Renews the JWT signing key when it is older than `jwt.rotate_every` (or when forced). A replaced
 * key's public half stays in jwks.json until every token it could have signed has expired
 * (`jwt.max_token_ttl` after its retirement); then it is removed. The JWKS is written (to the
 * public `jwks/` directory) before the `current` link moves, so verifiers know a key before any
 * token is signed with it.
 */
export async function rotateJwtKey(layout: PkiLayout, spec: Topology, now: Date, opts: { force: boolean; dryRun: boolean }): Promise<JwtRotation> {
  const state = await readState(layout);
  const current = (await linkTarget(layout.jwtCurrent)) === undefined ? undefined : state.keys.find((k) => k.retired_at === null);
  const due = current === undefined || opts.force || now.getTime() - Date.parse(current.created_at) >= spec.jwt.rotateEveryMs;
  const expired = (k: JwtState['keys'][number]): boolean =>
    k.retired_at !== null && Date.parse(k.retired_at) + spec.jwt.maxTokenTtlMs <= now.getTime();

  if (opts.dryRun) {
    return { action: due ? 'would_renew' : 'kept', kid: current?.kid, published: state.keys.filter((k) => !expired(k)).map((k) => k.kid), removed: [] };
  }

  let keys = state.keys;
  let kid = current?.kid;
  if (due) {
    const keyPem = await generateEs256Key();
    kid = await calculateJwkThumbprint(await publicJwk(keyPem));
    await writeVersionDir(layout.jwtDir, kid, [{ name: 'key.pem', data: keyPem, mode: PRIVATE_MODE }]);
    keys = [
      { kid, created_at: now.toISOString(), retired_at: null },
      ...keys.map((k) => (k.retired_at === null ? { ...k, retired_at: now.toISOString() } : k)),
    ];
  }
  const removed = keys.filter(expired).map((k) => k.kid);
  keys = keys.filter((k) => !expired(k));

  const jwks = { keys: await Promise.all(keys.map(async (k) => ({ ...(await publicJwk(await readKey(layout, k.kid))), kid: k.kid, alg: JWT_ALG, use: 'sig' }))) };
  await writeFileAtomic(layout.jwks, `${JSON.stringify(jwks, null, 2)}\n`, PUBLIC_MODE);
  // Published in jwks/ now, so that authz mounts it without the signing keys beside it.
  await rm(layout.legacyJwks, { force: true });
  await writeFileAtomic(layout.jwtState, `${JSON.stringify({ keys }, null, 2)}\n`, PUBLIC_MODE);
  if (due && kid !== undefined) await swapSymlink(layout.jwtCurrent, kid);
  for (const old of removed) await rm(join(layout.jwtDir, old), { recursive: true, force: true });
  return { action: current === undefined ? 'created' : due ? 'renewed' : 'kept', kid, published: keys.map((k) => k.kid), removed };
}

async function publicJwk(privatePem: string): Promise<JWK> {
  return exportJWK(createPublicKey(createPrivateKey(privatePem)));
}

async function readKey(layout: PkiLayout, kid: string): Promise<string> {
  const file = join(layout.jwtDir, kid, 'key.pem');
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError('pki_missing', `cannot read JWT key ${file}: ${errorMessage(err)}`, { cause: err });
  }
}

async function readState(layout: PkiLayout): Promise<JwtState> {
  let text: string;
  try {
    text = await readFile(layout.jwtState, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { keys: [] };
    throw new ConfigError('pki_missing', `cannot read ${layout.jwtState}: ${errorMessage(err)}`, { cause: err });
  }
  try {
    return stateSchema.parse(JSON.parse(text));
  } catch (err) {
    throw new ConfigError('pki_jwt_state_corrupt', `${layout.jwtState} is corrupted: ${errorMessage(err)}`, { cause: err });
  }
}
