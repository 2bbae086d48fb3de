import { z } from 'zod';
import { parseRoleList } from '../../shared/roles.js';

/** RFC 8705 section 3.1: the base64url (no padding) SHA-256 of a certificate's DER, 43 characters. */
const X5T_S256 = /^[A-Za-z0-9_-]{43}$/;

/**
 * Verified JWT claims as the policy reads them. The verifier has already checked iss, aud, exp,
 * nbf and the lifetime; unknown claims pass through untouched. `roles` are role names exactly as
 * src/shared/roles.ts reads them (the rating API reads them back the same way), and `cnf`, when
 * present, is a confirmation (RFC 7800) whose `x5t#S256` binds the token to a client certificate
 * (RFC 8705); token-binding.ts compares it with the certificate that presents the token.
 */
export const ClaimsSchema = z.looseObject({
  sub: z.string(),
  tenant: z.string().optional(),
  roles: z
    .array(z.string())
    .optional()
    .superRefine((roles, ctx) => {
      if (roles === undefined) return;
      const read = parseRoleList(roles);
      if (!read.ok) ctx.addIssue({ code: 'custom', message: read.problem });
    }),
  region: z.string().optional(),
  tier: z.string().optional(),
  iss: z.string().optional(),
  aud: z.union([z.string(), z.array(z.string())]).optional(),
  exp: z.number().optional(),
  nbf: z.number().optional(),
  iat: z.number().optional(),
  cnf: z.looseObject({ 'x5t#S256': z.string().regex(X5T_S256, 'x5t#S256 must be the base64url SHA-256 of a certificate').optional() }).optional(),
});
export type Claims = z.infer<typeof ClaimsSchema>;

/** The `error_description` for claims that do not fit the schema: the first claim at fault, never its value. */
export function claimsProblem(error: z.ZodError, payload: Readonly<Record<string, unknown>>): string {
  const issue = error.issues[0];
  const claim = typeof issue?.path[0] === 'string' ? issue.path[0] : undefined;
  if (issue === undefined || claim === undefined) return 'the token claims are malformed';
  if (payload[claim] === undefined) return `the token has no ${claim} claim`;
  if (issue.code === 'custom') return `the token's ${claim} claim ${issue.message}`;
  return `the token's ${claim} claim is malformed`;
}
