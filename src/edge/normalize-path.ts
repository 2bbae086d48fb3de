/**
 * The request-path hygiene envoy.yaml's connection manager applies before any filter runs:
 * `path_with_escaped_slashes_action: REJECT_REQUEST`, `normalize_path: true` (RFC 3986 dot-segment
 * removal) and `merge_slashes: true`; a `#fragment` in the request line is refused, as Envoy 1.40
 * refuses it (400, `path_normalization_failed`) rather than letting authz see it in the path. Authz and the rating API must see the same path, or
 * `/v1/tenants/acme/../globex/...` could be authorised as one tenant and served as another.
 */

export type NormalizedPath =
  | { readonly ok: true; readonly pathAndQuery: string }
  | {
      readonly ok: false;
      /**
       * Why the path was refused, one reason per rule. Envoy's access log says
       * `path_normalization_failed` for both, and so does the edge's.
       */
      readonly details: 'path_has_escaped_slashes' | 'path_normalization_failed';
    };

const ESCAPED_SLASH = /%2f|%5c/i;
const ESCAPED_DOT = /%2e/gi;

/**
 * Normalises a request target (`/path?query`). The query is left exactly as sent; only the path is
 * rewritten. `%2E` counts as a dot, as in the URL canonicaliser Envoy uses, so `%2e%2e` cannot
 * smuggle a `..` past the normaliser and have the upstream decode it later.
 */
export function normalizePath(target: string): NormalizedPath {
  if (!target.startsWith('/')) return { ok: false, details: 'path_normalization_failed' };
  // A fragment never belongs in a request line (RFC 9112 origin-form); Envoy refuses one.
  if (target.includes('#')) return { ok: false, details: 'path_normalization_failed' };
  const q = target.indexOf('?');
  const rawPath = q === -1 ? target : target.slice(0, q);
  const query = q === -1 ? '' : target.slice(q);
  if (ESCAPED_SLASH.test(rawPath)) return { ok: false, details: 'path_has_escaped_slashes' };

  const segments = rawPath.replace(/\\/g, '/').replace(ESCAPED_DOT, '.').split('/').slice(1);
  const out: string[] = [];
  segments.forEach((seg, i) => {
    const last = i === segments.length - 1;
    if (seg === '.' || seg === '..') {
      if (seg === '..') out.pop();
      // A trailing dot segment leaves a trailing slash, as RFC 3986 section 5.2.4 does.
      if (last) out.push('');
      return;
    }
    // merge_slashes: an empty segment in the middle is a doubled slash; a trailing one is kept.
    if (seg === '' && !last) return;
    out.push(seg);
  });
  return { ok: true, pathAndQuery: `/${out.join('/')}${query}` };
}
