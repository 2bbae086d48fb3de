/**
 * The rating API's response bodies as schemas: tests read a body through these, which both types it
 * and checks that the API sends exactly this shape (strict: no extra keys).
 */
import { z } from 'zod';

const histogram = z.strictObject({ '1': z.number(), '2': z.number(), '3': z.number(), '4': z.number(), '5': z.number() });

export const errorBody = z.strictObject({
  error: z.string(),
  request_id: z.string(),
  fields: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
});

export const aggregateBody = z.strictObject({ item: z.string(), count: z.number(), average: z.number().nullable(), histogram });

export const writeBody = z.strictObject({
  item: z.string(),
  user: z.string(),
  score: z.number(),
  comment: z.string().optional(),
  created: z.boolean(),
  seq: z.number(),
  aggregate: z.strictObject({ count: z.number(), average: z.number().nullable(), histogram }),
});

export type ErrorBody = z.infer<typeof errorBody>;

/** Parses a response body with one of the schemas above. */
export function bodyOf<T>(schema: z.ZodType<T>, res: { body: unknown }): T {
  return schema.parse(res.body);
}
