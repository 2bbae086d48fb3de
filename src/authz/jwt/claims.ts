import { z } from 'zod';

/**
 * Verified JWT claims as the policy reads them. The verifier has already checked iss, aud, exp and
 * nbf; unknown claims pass through untouched.
 */
export const ClaimsSchema = z.looseObject({
  sub: z.string(),
  tenant: z.string().optional(),
  roles: z.array(z.string()).optional(),
  region: z.string().optional(),
  tier: z.string().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  exp: z.number().optional(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
});
export type Claims = z.infer<typeof ClaimsSchema>;
