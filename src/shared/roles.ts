/**
 * The one reader of role names, for both places a role is read: the policy service reading a
 * token's `roles` claim into the policy input, and the rating API reading the `x-zt-roles` header
 * the policy service set. Both refuse the same things, so a role can never mean one thing to the
 * policy and another to the rating API: a padded `" platform_admin"` is no role to either (the
 * rating API used to trim it into `platform_admin` while the policy ignored it).
 */

/** A role name: a lower-case letter, then lower-case letters, digits or `_`, at most 32 in all. */
export const ROLE_NAME = /^[a-z][a-z0-9_]{0,31}$/;

/** Roles read, or why they were refused (a description that names no value). */
export type RolesRead = { readonly ok: true; readonly roles: readonly string[] } | { readonly ok: false; readonly problem: string };

const MAX_ROLES = 32;

/** A token's `roles` claim: a list of role names, each exactly {@link ROLE_NAME}. Duplicates count once. */
export function parseRoleList(value: unknown): RolesRead {
  if (!Array.isArray(value)) return refused('must be a list of role names');
  if (value.length > MAX_ROLES) return refused(`holds more than ${MAX_ROLES} roles`);
  for (const role of value) {
    if (typeof role !== 'string' || !ROLE_NAME.test(role)) {
      return refused('holds an entry that is not a role name (lower-case letters, digits and _, no spaces)');
    }
  }
  return { ok: true, roles: Object.freeze([...new Set(value as string[])]) };
}

/**
 * The `x-zt-roles` header: role names joined by `,`, nothing else (no spaces, no empty entries);
 * the empty string is no role at all. What the policy writes, read back exactly.
 */
export function parseRoleHeader(value: string): RolesRead {
  if (value === '') return { ok: true, roles: Object.freeze([]) };
  return parseRoleList(value.split(','));
}

function refused(problem: string): RolesRead {
  return { ok: false, problem };
}
