/**
 * envoy.yaml's small-body buffer, read for the dev edge: a composite filter (ExtensionWithMatcher)
 * whose one matcher runs `envoy.filters.http.buffer` for requests whose request header (here
 * content-length) fully matches an RE2 regex. It sits before the local_ratelimit backstop so that
 * the backstop's 429 to a small declared body comes after the body, and Envoy keeps the HTTP/1.1
 * connection; any other request with a body (larger, chunked) gets its 429 before the body, and
 * Envoy closes the connection after it. A composite filter of any other shape is refused, with the
 * field that holds it, since the dev edge could not reproduce it.
 */
import { z } from 'zod';
import { checkAt } from './envoy-schema.js';

const EXTENSION_WITH_MATCHER_TYPE = 'type.googleapis.com/envoy.extensions.common.matching.v3.ExtensionWithMatcher';
const COMPOSITE_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.composite.v3.Composite';
const EXECUTE_FILTER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.composite.v3.ExecuteFilterAction';
const HEADER_INPUT_TYPE = 'type.googleapis.com/envoy.type.matcher.v3.HttpRequestHeaderMatchInput';
const BUFFER_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.buffer.v3.Buffer';

/** Which requests are read whole before the filters after it run. */
export interface SmallBodyBuffer {
  /** The request header matched (lower case). */
  readonly header: string;
  /** Its value must match this whole (RE2 syntax that JavaScript reads the same). */
  readonly pattern: RegExp;
  /** The buffer's limit; a larger body is refused with 413. */
  readonly maxRequestBytes: number;
}

const compositeSchema = z.object({
  '@type': z.literal(EXTENSION_WITH_MATCHER_TYPE),
  extension_config: z.object({ typed_config: z.object({ '@type': z.literal(COMPOSITE_TYPE) }) }),
  xds_matcher: z
    .object({
      matcher_list: z.object({
        matchers: z
          .array(
            z.object({
              predicate: z.object({
                single_predicate: z.object({
                  input: z.object({ typed_config: z.object({ '@type': z.literal(HEADER_INPUT_TYPE), header_name: z.string().min(1) }) }),
                  value_match: z.object({ safe_regex: z.object({ google_re2: z.object({}).optional(), regex: z.string().min(1) }) }),
                }),
              }),
              on_match: z.object({
                action: z.object({
                  typed_config: z.object({
                    '@type': z.literal(EXECUTE_FILTER_TYPE),
                    typed_config: z.object({ typed_config: z.object({ '@type': z.literal(BUFFER_TYPE), max_request_bytes: z.number().int().min(1) }) }),
                  }),
                }),
              }),
            }),
          )
          .length(1, 'the dev edge reproduces one matcher: a buffer for requests whose header matches a regex'),
      }),
    })
    .strict(),
});

/** Whether an HTTP filter is a composite one (which only {@link readSmallBodyBuffer} may read). */
export function isComposite(typedConfig: Record<string, unknown> | undefined): boolean {
  return typedConfig?.['@type'] === EXTENSION_WITH_MATCHER_TYPE;
}

/** The buffer a composite filter's typed_config (at `at` in `source`) describes. */
export function readSmallBodyBuffer(typedConfig: unknown, source: string, at: string): SmallBodyBuffer {
  const c = checkAt(compositeSchema, typedConfig, source, at);
  const [only] = c.xds_matcher.matcher_list.matchers;
  if (only === undefined) throw new Error('unreachable: the schema requires one matcher');
  const predicate = only.predicate.single_predicate;
  return {
    header: predicate.input.typed_config.header_name.toLowerCase(),
    // The xDS RegexMatcher matches the whole value, not a part of it.
    pattern: new RegExp(`^(?:${predicate.value_match.safe_regex.regex})$`),
    maxRequestBytes: only.on_match.action.typed_config.typed_config.typed_config.max_request_bytes,
  };
}

/**
 * Whether Envoy answers a local reply to this request (headers and method) before its body: a
 * request with a body (a content-length other than 0, or a transfer-encoding) that `buffer` does
 * not read first. Envoy closes an HTTP/1.1 connection after such a reply.
 */
export function repliesBeforeBody(headers: Readonly<Record<string, string | string[] | undefined>>, buffer: SmallBodyBuffer | undefined): boolean {
  const length = headers['content-length'];
  const hasBody = headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return false;
  const value = headers[buffer?.header ?? ''];
  return buffer === undefined || typeof value !== 'string' || !buffer.pattern.test(value);
}
