import type { Caller } from './caller.js';
import { ratingError } from './rating-errors.js';

/**
 * The policy's tenant and role rules (policies/access.rego), checked again here as defence in
 * depth: a misrouted or misconfigured edge must not turn into cross-tenant writes.
 */
type Action = { readonly kind: 'read' } | { readonly kind: 'write' } | { readonly kind: 'delete'; readonly user: string };

const READERS: ReadonlySet<string> = new Set(['viewer', 'rater', 'moderator', 'platform_admin']);
const WRITERS: ReadonlySet<string> = new Set(['rater', 'platform_admin']);
const MODERATORS: ReadonlySet<string> = new Set(['moderator', 'platform_admin']);

/** 403 `tenant_mismatch` unless the path's tenant is the caller's, or the caller is a platform admin. */
export function checkTenant(caller: Caller, tenant: string): void {
  if (caller.roles.includes('platform_admin')) return;
  if (caller.tenant === '' || caller.tenant !== tenant) throw ratingError('tenant_mismatch');
}

/**
 * 403 `forbidden_role` unless a role permits the action: any reader reads, a rater or platform
 * admin writes, a moderator or platform admin deletes any rating, and a rater deletes their own.
 */
export function checkRole(caller: Caller, action: Action): void {
  const has = (set: ReadonlySet<string>): boolean => caller.roles.some((r) => set.has(r));
  const allowed =
    action.kind === 'read'
      ? has(READERS)
      : action.kind === 'write'
        ? has(WRITERS)
        : has(MODERATORS) || (caller.roles.includes('rater') && action.user === caller.subject);
  if (!allowed) throw ratingError('forbidden_role');
}
