/**
 * What every reader of envoy.yaml in the dev edge shares: Envoy's duration format, and one way of
 * checking a piece of the file against a schema that names the field at fault.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';

/** A protobuf JSON Duration ("0.250s") or its object form, in milliseconds. */
export const durationMs = z.union([
  z
    .string()
    .regex(/^\d+(\.\d{1,9})?s$/, 'a duration like "0.250s"')
    .transform((s) => Math.round(Number(s.slice(0, -1)) * 1000)),
  z
    .object({ seconds: z.coerce.number().int().nonnegative().default(0), nanos: z.number().int().nonnegative().default(0) })
    .transform((d) => d.seconds * 1000 + Math.round(d.nanos / 1e6)),
]);

/**
 * `value` (found at `at` in `source`) parsed by `schema`, or a ConfigError `envoy_config` naming the
 * file and the field: `envoy.yaml: static_resources.listeners[0]...: <why>`.
 */
export function checkAt<T extends z.ZodType>(schema: T, value: unknown, source: string, at: string): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = [at, ...(issue?.path ?? []).map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))]
    .filter((p) => p !== '')
    .join('.')
    .replace(/\.\[/g, '[');
  throw new ConfigError('envoy_config', `${source}: ${where || '(root)'}: ${issue?.message ?? 'invalid'}`);
}
