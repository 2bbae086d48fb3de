import { z } from 'zod';
import { ratingError, type FieldError } from './rating-errors.js';

/**
 * What a tenant, item or user id may look like: 1 to 64 characters of lower-case letters, digits,
 * `.`, `_` and `-`, starting with a letter or digit. That keeps ids safe as Redis key parts (no `:`),
 * as path segments (no `/`, never `.` or `..`) and in logs, and it is the shape of the demo data.
 */
export const ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** ID_PATTERN unanchored, to build a larger pattern from. */
export const ID_SOURCE = ID_PATTERN.source.slice(1, -1);

const ID_MESSAGE = 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit';
const MAX_COMMENT = 500;

const idSchema = z.string({ error: ID_MESSAGE }).regex(ID_PATTERN, { error: ID_MESSAGE });

/** The path parameters of `/v1/tenants/{tenant}/items/{item}/ratings`. */
export const itemParamsSchema = z.object({ tenant: idSchema, item: idSchema });

/** The path parameters of `/v1/tenants/{tenant}/items/{item}/ratings/{user}`. */
export const userParamsSchema = z.object({ tenant: idSchema, item: idSchema, user: idSchema });

const SCORE_MESSAGE = 'must be an integer from 1 to 5';
const COMMENT_MESSAGE = `must be a string of at most ${MAX_COMMENT} characters`;

/**
 * The body of a rating write. Strict: an unknown field is an error rather than silently dropped, so
 * a client that misspells `comment` learns it. No coercion: `"5"` is not a score.
 */
export const ratingBodySchema = z.strictObject(
  {
    score: z.int({ error: SCORE_MESSAGE }).min(1, { error: SCORE_MESSAGE }).max(5, { error: SCORE_MESSAGE }),
    comment: z.string({ error: COMMENT_MESSAGE }).max(MAX_COMMENT, { error: COMMENT_MESSAGE }).optional(),
  },
  { error: 'must be a JSON object' },
);

/**
 * Parses `value` or throws 400 `invalid_request` listing every bad field. The messages are the
 * schema's own (written above), never zod's defaults, so no library text reaches a client.
 */
export function parseOrReject<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw ratingError('invalid_request', { fields: fieldErrors(parsed.error.issues) });
}

/** One entry per bad field; an unknown key becomes its own entry named after the key. */
function fieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  const out: FieldError[] = [];
  for (const issue of issues) {
    const at = issue.path.map(String);
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) out.push({ path: [...at, key].join('.'), message: 'is not a known field' });
    } else {
      out.push({ path: at.join('.'), message: issue.message });
    }
  }
  return out;
}
