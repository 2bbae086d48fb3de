/**
 * envoy.yaml's `local_reply_config`, read for the dev edge: the mappers that give the answers the
 * edge writes itself (a route not found, a refused request line, a timeout, the backstop's 429,
 * authz unavailable) their JSON body. Envoy tries the mappers in order and the first whose filter
 * matches wins; a mapper without a body override leaves the answer as it was (the passthrough of
 * authz's own denials). The dev edge supports the filters and formats the shipped file uses
 * (status code, response flags, and / or of those; a JSON body of literals and the request id)
 * and refuses anything else at start.
 */
import { z } from 'zod';
import { checkAt } from './envoy-schema.js';

/** What the filter of a mapper is asked about: the answer's status and its response flags. */
export interface LocalReplyFacts {
  readonly status: number;
  readonly flags: readonly string[];
}

/** A mapper's rewrite: the JSON body (given the request id) and any headers it adds. */
export interface LocalReplyRewrite {
  body(requestId: string | undefined): string;
  readonly headers: Readonly<Record<string, string>>;
}

type Filter = (facts: LocalReplyFacts) => boolean;

interface Mapper {
  readonly matches: Filter;
  /** Undefined: the mapper matches and stops the search, but rewrites nothing. */
  readonly rewrite: LocalReplyRewrite | undefined;
}

/** The local reply table; `rewriteFor` answers what Envoy would do with one local reply. */
export class LocalReplyConfig {
  constructor(private readonly mappers: readonly Mapper[]) {}

  /** The rewrite of the first mapper that matches, or undefined (none matches, or it rewrites nothing). */
  rewriteFor(facts: LocalReplyFacts): LocalReplyRewrite | undefined {
    for (const m of this.mappers) if (m.matches(facts)) return m.rewrite;
    return undefined;
  }
}

const REQUEST_ID = '%REQ(X-REQUEST-ID)%';

const comparison = z
  .object({
    op: z.enum(['EQ', 'GE', 'LE']),
    value: z.object({ default_value: z.number().int(), runtime_key: z.string().min(1) }),
  })
  .strict();

type FilterSpec =
  | { status_code_filter: { comparison: z.infer<typeof comparison> } }
  | { response_flag_filter: { flags: string[] } }
  | { and_filter: { filters: FilterSpec[] } }
  | { or_filter: { filters: FilterSpec[] } };

const filterSchema: z.ZodType<FilterSpec> = z.lazy(() =>
  z.union(
    [
      z.object({ status_code_filter: z.object({ comparison }).strict() }).strict(),
      z.object({ response_flag_filter: z.object({ flags: z.array(z.string().min(1)).min(1) }).strict() }).strict(),
      z.object({ and_filter: z.object({ filters: z.array(filterSchema).min(1) }).strict() }).strict(),
      z.object({ or_filter: z.object({ filters: z.array(filterSchema).min(1) }).strict() }).strict(),
    ],
    { error: 'the dev edge reproduces status_code_filter, response_flag_filter, and_filter and or_filter only' },
  ),
);

const jsonValue = z.string().refine((v) => !v.includes('%') || v === REQUEST_ID, `the dev edge reproduces literal values and ${REQUEST_ID} only`);

const mapperSchema = z
  .object({
    filter: filterSchema,
    body_format_override: z
      .record(z.string(), z.unknown())
      .refine((o) => Object.keys(o).length === 1 && 'json_format' in o, 'the dev edge reproduces json_format bodies only')
      .pipe(z.object({ json_format: z.record(z.string(), jsonValue) }))
      .optional(),
    headers_to_add: z.array(z.object({ header: z.object({ key: z.string().min(1), value: z.string() }), append_action: z.string().optional() })).optional(),
  })
  .strict();

const configSchema = z.object({ mappers: z.array(mapperSchema).default([]) }).strict();

/** Reads `local_reply_config` (at `path` in `source`); an absent one rewrites nothing. */
export function parseLocalReplyConfig(value: unknown, source: string, path: string): LocalReplyConfig {
  if (value === undefined) return new LocalReplyConfig([]);
  const parsed = checkAt(configSchema, value, source, path);
  return new LocalReplyConfig(
    parsed.mappers.map((m) => ({
      matches: compile(m.filter),
      rewrite:
        m.body_format_override === undefined
          ? undefined
          : {
              body: jsonBody(m.body_format_override.json_format),
              headers: Object.fromEntries((m.headers_to_add ?? []).map((h) => [h.header.key.toLowerCase(), h.header.value])),
            },
    })),
  );
}

function compile(spec: FilterSpec): Filter {
  if ('status_code_filter' in spec) {
    const { op, value } = spec.status_code_filter.comparison;
    const v = value.default_value;
    return op === 'EQ' ? (f) => f.status === v : op === 'GE' ? (f) => f.status >= v : (f) => f.status <= v;
  }
  if ('response_flag_filter' in spec) {
    const wanted = spec.response_flag_filter.flags;
    return (f) => f.flags.some((flag) => wanted.includes(flag));
  }
  if ('and_filter' in spec) {
    const all = spec.and_filter.filters.map(compile);
    return (f) => all.every((g) => g(f));
  }
  const any = spec.or_filter.filters.map(compile);
  return (f) => any.some((g) => g(f));
}

/**
 * The body Envoy's json_format prints: the keys in the order the config lists them, a missing
 * request id as null, one trailing newline.
 */
function jsonBody(format: Readonly<Record<string, string>>): (requestId: string | undefined) => string {
  return (requestId) => {
    const out: Record<string, string | null> = {};
    for (const [key, value] of Object.entries(format)) out[key] = value === REQUEST_ID ? (requestId ?? null) : value;
    return `${JSON.stringify(out)}\n`;
  };
}
