/** The ext_authz path prefix (envoy.yaml `path_prefix`): checks arrive as `/check` + path + query. */
export const CHECK_PREFIX = '/check';

/** The client's request line as the edge forwarded it. */
export interface ClientTarget {
  /** The client's path, without the query; `/` when the client asked for the root. */
  readonly path: string;
  /** The raw query after `?`, without it; empty when there is none. */
  readonly rawQuery: string;
}

/**
 * Splits a check request's URL into the client's path and query. Undefined when the URL is not
 * under {@link CHECK_PREFIX} (`/checkout` is not a check). Nothing is decoded: the policy sees the
 * path exactly as the edge will forward it, and refuses shapes it does not know.
 */
export function clientTarget(url: string): ClientTarget | undefined {
  if (!url.startsWith(CHECK_PREFIX)) return undefined;
  const q = url.indexOf('?', CHECK_PREFIX.length);
  const end = q === -1 ? url.length : q;
  if (end > CHECK_PREFIX.length && url.charCodeAt(CHECK_PREFIX.length) !== 0x2f) return undefined;
  const path = end === CHECK_PREFIX.length ? '/' : url.slice(CHECK_PREFIX.length, end);
  return { path, rawQuery: q === -1 ? '' : url.slice(q + 1) };
}

/** The path's non-empty segments, as the policy expects them next to the path. */
export function pathSegments(path: string): string[] {
  const out: string[] = [];
  let start = 1;
  for (let i = 1; i <= path.length; i++) {
    if (i === path.length || path.charCodeAt(i) === 0x2f) {
      if (i > start) out.push(path.slice(start, i));
      start = i + 1;
    }
  }
  return out;
}

/**
 * The query as the policy reads it: a name maps to its value, or to every value in order when it
 * repeats. Percent-decoding never throws (bad sequences become U+FFFD). The object has no prototype,
 * so a parameter called `__proto__` is just a name.
 */
export function parseQuery(rawQuery: string): Record<string, string | string[]> {
  const out = Object.create(null) as Record<string, string | string[]>;
  if (rawQuery === '') return out;
  for (const [name, value] of new URLSearchParams(rawQuery)) {
    const seen = out[name];
    if (seen === undefined) out[name] = value;
    else if (typeof seen === 'string') out[name] = [seen, value];
    else seen.push(value);
  }
  return out;
}
