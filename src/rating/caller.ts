import type { IncomingHttpHeaders } from 'node:http';
import { parseRoleHeader } from '../shared/roles.js';
import { parseSpiffeId } from '../shared/spiffe.js';
import { ratingError } from './rating-errors.js';
import { ID_PATTERN } from './validation.js';

/**
 * The caller as authz described it to the edge. These headers are trusted only because the peer is
 * an authenticated edge, which strips any a client sent before asking authz.
 */
export interface Caller {
  /** `x-zt-subject`: the token's `sub`; the user a rating is recorded under. */
  readonly subject: string;
  /** `x-zt-tenant`: the token's tenant; empty for a platform admin without one. */
  readonly tenant: string;
  /** `x-zt-roles`: role names joined by commas, read by the same parser authz reads a token's roles with. */
  readonly roles: readonly string[];
  /** `x-zt-client`: the client certificate's SPIFFE ID, when the edge sent it. */
  readonly client: string | undefined;
}

/**
 * Reads the caller from the `x-zt-*` headers. A missing subject or tenant header, one that does
 * not fit ID_PATTERN, or roles that are not exactly role names joined by commas (src/shared/roles.ts:
 * no spaces, no empty entries; nothing is trimmed into a role) is 401 `missing_identity`: the
 * request reached us without the identity authz attaches to every request it allows, so nothing can
 * be attributed to anyone.
 */
export function callerFrom(headers: IncomingHttpHeaders): Caller {
  const subject = single(headers['x-zt-subject']);
  const tenant = single(headers['x-zt-tenant']);
  const client = single(headers['x-zt-client']);
  if (subject === undefined || !ID_PATTERN.test(subject)) throw ratingError('missing_identity');
  if (tenant === undefined || (tenant !== '' && !ID_PATTERN.test(tenant))) throw ratingError('missing_identity');
  if (client !== undefined && parseSpiffeId(client) === undefined) throw ratingError('missing_identity');
  const rolesHeader = headers['x-zt-roles'];
  if (Array.isArray(rolesHeader)) throw ratingError('missing_identity');
  const roles = parseRoleHeader(rolesHeader ?? '');
  if (!roles.ok) throw ratingError('missing_identity');
  return { subject, tenant, roles: roles.roles, client };
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? undefined : value?.trim();
}
