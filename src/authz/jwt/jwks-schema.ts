import type { JSONWebKeySet } from 'jose';
import { z } from 'zod';

// Only public verification keys belong in a published JWKS; a key with private parts ("d", or any
// symmetric "k") means the file is not what it should be.
const PublicJwkSchema = z.looseObject({ kty: z.string().min(1), kid: z.string().min(1).optional() }).refine((jwk) => !('d' in jwk) && !('k' in jwk), {
  message: 'a published key must be public (no "d" or "k")',
});

/** A JWKS as the rotator writes it (`jwt/jwks.json`): `{keys: [public JWK, ...]}`. */
export const JwksSchema = z.object({ keys: z.array(PublicJwkSchema).min(1) });

/** Parses JWKS text; throws with a short reason on anything else. */
export function parseJwks(text: string): JSONWebKeySet {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error('not valid JSON');
  }
  const parsed = JwksSchema.safeParse(json);
  if (!parsed.success) {
    throw new Error(parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '));
  }
  return parsed.data;
}
