/**
 * The dev edge's reader of `envoy/envoy.yaml`. The dev edge reproduces the production Envoy
 * behaviour for behaviour, so it takes the ext_authz contract (prefix, timeout, failure mode,
 * header allow-lists), the x-zt-* stripping and the XFCC settings from the same file Envoy runs,
 * instead of keeping a second copy that could drift. Anything in that file the dev edge could not
 * reproduce faithfully (a regex matcher, a non-prefix header removal, another XFCC mode) is
 * refused here, at start, with the field that holds it.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { ConfigError, errorMessage } from '../shared/errors.js';
import { parseProtections, type EnvoyProtections } from './envoy-protections.js';
import { checkAt, durationMs } from './envoy-schema.js';
import { parseLocalReplyConfig, type LocalReplyConfig } from './local-reply-config.js';

/** One entry of an Envoy `ListStringMatcher`, as the dev edge supports it. */
export type StringMatcher = Readonly<
  | { exact: string; ignoreCase: boolean }
  | { prefix: string; ignoreCase: boolean }
  | { suffix: string; ignoreCase: boolean }
  | { contains: string; ignoreCase: boolean }
>;

/** What the dev edge needs from the Envoy config, frozen. */
export interface EnvoyEdgeConfig {
  readonly authz: {
    /** Prepended to the client's path in the check request (`http_service.path_prefix`). */
    readonly pathPrefix: string;
    readonly timeoutMs: number;
    readonly failureModeAllow: boolean;
    /** The status sent when authz cannot be reached or answers too late. */
    readonly statusOnError: number;
    /**
     * Client headers copied into the check request. Envoy's HTTP ext_authz also always sends
     * Host, Method, Path, Content-Length and Authorization, whatever this list says.
     */
    readonly allowedRequestHeaders: readonly StringMatcher[];
    /** Headers of an allowing check response added to the upstream request. */
    readonly allowedUpstreamHeaders: readonly StringMatcher[];
    /** Headers of a denying check response passed to the client. */
    readonly allowedClientHeaders: readonly StringMatcher[];
    /** Headers of an allowing check response added to the client's response. */
    readonly allowedClientHeadersOnSuccess: readonly StringMatcher[];
  };
  /** Client request headers whose name starts with one of these are removed before ext_authz. */
  readonly removedRequestHeaderPrefixes: readonly string[];
  /** The route table, in order: the first whose prefix the (normalised) path starts with wins. */
  readonly routes: readonly EdgeRoute[];
  readonly xfcc: {
    readonly mode: 'SANITIZE_SET';
    readonly subject: boolean;
    readonly uri: boolean;
    /** The client certificate itself, URL-encoded PEM (`Cert=`). */
    readonly cert: boolean;
    /** Envoy always adds `Hash=` (and `By=`) to the element it sets; there is no switch for it. */
    readonly hash: true;
  };
  /** Timeouts, limits, the connection cap, the local rate limit and the authz connection bound (envoy-protections.ts). */
  readonly protections: EnvoyProtections;
  /** The bodies of the answers the edge writes itself (local-reply-config.ts). */
  readonly localReplies: LocalReplyConfig;
}

/** One route of the virtual host: a path prefix, the cluster it goes to and the route timeout. */
export interface EdgeRoute {
  readonly prefix: string;
  readonly cluster: string;
  readonly timeoutMs: number;
  /**
   * The upgrades (lower case, e.g. `websocket`) the route accepts: its own `upgrade_configs`, over
   * the connection manager's. Envoy answers any other upgrade request with 403 `upgrade_failed`.
   */
  readonly upgrades: readonly string[];
}

/** Envoy's default route timeout when a route names none. */
const DEFAULT_ROUTE_TIMEOUT_MS = 15_000;

const HCM_TYPE = 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
const EXT_AUTHZ_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';
const HEADER_MUTATION_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation';

/** envoy.type.v3.StatusCode names of the error statuses, as they may appear in `status_on_error`. */
const STATUS_CODES: Readonly<Record<string, number>> = {
  BadRequest: 400, Unauthorized: 401, PaymentRequired: 402, Forbidden: 403, NotFound: 404,
  MethodNotAllowed: 405, NotAcceptable: 406, ProxyAuthenticationRequired: 407, RequestTimeout: 408,
  Conflict: 409, Gone: 410, LengthRequired: 411, PreconditionFailed: 412, PayloadTooLarge: 413,
  URITooLong: 414, UnsupportedMediaType: 415, RangeNotSatisfiable: 416, ExpectationFailed: 417,
  MisdirectedRequest: 421, UnprocessableEntity: 422, Locked: 423, FailedDependency: 424,
  UpgradeRequired: 426, PreconditionRequired: 428, TooManyRequests: 429,
  RequestHeaderFieldsTooLarge: 431, InternalServerError: 500, NotImplemented: 501, BadGateway: 502,
  ServiceUnavailable: 503, GatewayTimeout: 504, HTTPVersionNotSupported: 505,
  VariantAlsoNegotiates: 506, InsufficientStorage: 507, LoopDetected: 508, NotExtended: 510,
  NetworkAuthenticationRequired: 511,
};

const MATCH_KINDS = ['exact', 'prefix', 'suffix', 'contains'] as const;

const stringMatcher = z
  .record(z.string(), z.unknown())
  .superRefine((m, ctx) => {
    const unsupported = Object.keys(m).filter((k) => k !== 'ignore_case' && !(MATCH_KINDS as readonly string[]).includes(k));
    if (unsupported.length > 0) {
      ctx.addIssue({ code: 'custom', message: `${unsupported.join(', ')} is not supported by the dev edge; use exact, prefix, suffix or contains` });
    }
    const kinds = MATCH_KINDS.filter((k) => k in m);
    if (kinds.length !== 1) ctx.addIssue({ code: 'custom', message: 'a matcher needs exactly one of exact, prefix, suffix, contains' });
  })
  .pipe(
    z.object({
      exact: z.string().optional(),
      prefix: z.string().min(1).optional(),
      suffix: z.string().min(1).optional(),
      contains: z.string().min(1).optional(),
      ignore_case: z.boolean().default(false),
    }),
  )
  .transform((m): StringMatcher => {
    const ignoreCase = m.ignore_case;
    if (m.exact !== undefined) return { exact: m.exact, ignoreCase };
    if (m.prefix !== undefined) return { prefix: m.prefix, ignoreCase };
    if (m.suffix !== undefined) return { suffix: m.suffix, ignoreCase };
    return { contains: m.contains ?? '', ignoreCase };
  });

const matcherList = z.object({ patterns: z.array(stringMatcher).default([]) }).optional();

const statusCode = z.union([
  z.number().int().min(400).max(599),
  z.string().refine((s) => s in STATUS_CODES, 'an envoy.type.v3.StatusCode error name such as ServiceUnavailable').transform((s) => STATUS_CODES[s] ?? 0),
]);

const extAuthzSchema = z.object({
  failure_mode_allow: z.boolean().default(false),
  status_on_error: z.object({ code: statusCode }).optional(),
  allowed_headers: matcherList,
  http_service: z.object(
    {
      server_uri: z.object({ timeout: durationMs }),
      path_prefix: z.string().startsWith('/').default(''),
      authorization_response: z
        .object({
          allowed_upstream_headers: matcherList,
          allowed_client_headers: matcherList,
          allowed_client_headers_on_success: matcherList,
        })
        .default({}),
    },
    { error: 'the dev edge only reproduces an HTTP ext_authz service (http_service)' },
  ),
});

const headerMutationSchema = z.object({
  mutations: z
    .object({
      request_mutations: z
        .array(
          z.object(
            {
              remove_on_match: z.object({
                key_matcher: z.object({ prefix: z.string().min(1) }, { error: 'only a prefix key_matcher is reproduced' }).strict(),
              }),
            },
            { error: 'only remove_on_match request mutations are reproduced' },
          ).strict(),
        )
        .default([]),
    })
    .default({ request_mutations: [] }),
});

/** `upgrade_configs`, on the connection manager or on a route. */
const upgradeConfigs = z.array(z.object({ upgrade_type: z.string().min(1), enabled: z.boolean().default(true) })).default([]);

const hcmSchema = z.object({
  upgrade_configs: upgradeConfigs,
  forward_client_cert_details: z.literal('SANITIZE_SET', { error: 'the dev edge implements SANITIZE_SET only' }),
  set_current_client_cert_details: z
    .object({ subject: z.boolean().default(false), uri: z.boolean().default(false), cert: z.boolean().default(false) })
    .default({ subject: false, uri: false, cert: false }),
  http_filters: z.array(z.object({ name: z.string(), typed_config: z.record(z.string(), z.unknown()).optional() })),
  route_config: z.object({
    virtual_hosts: z
      .array(
        z.object({
          routes: z.array(
            z.object({
              match: z.object({ prefix: z.string().startsWith('/') }, { error: 'the dev edge reproduces prefix route matches only' }).strict(),
              route: z.object({ cluster: z.string().min(1), timeout: durationMs.optional(), upgrade_configs: upgradeConfigs }),
            }),
          ),
        }),
      )
      .length(1, 'the dev edge reproduces exactly one virtual host'),
  }),
});

const bootstrapSchema = z.object({
  static_resources: z.object({
    listeners: z.array(
      z.object({
        filter_chains: z.array(z.object({ filters: z.array(z.object({ typed_config: z.record(z.string(), z.unknown()).optional() })).default([]) })).default([]),
      }),
    ),
  }),
});

/**
 * Reads and checks `file` (the ENVOY_CONFIG setting), once, at start: synchronously, as the rest of
 * the edge's config is read, so that it is part of the plain data `loadConfig` returns.
 */
export function loadEnvoyConfig(file: string): EnvoyEdgeConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError('envoy_config', `ENVOY_CONFIG ${file}: cannot read: ${errorMessage(err)}`, { cause: err });
  }
  return parseEnvoyConfig(text, file);
}

/** Extracts the dev edge's settings from the text of an Envoy bootstrap; `source` names it in errors. */
export function parseEnvoyConfig(text: string, source: string): EnvoyEdgeConfig {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new ConfigError('envoy_config', `${source}: not valid YAML: ${errorMessage(err)}`, { cause: err });
  }
  const bootstrap = checkAt(bootstrapSchema, doc, source, '');

  const hcms: { path: string; config: Record<string, unknown> }[] = [];
  bootstrap.static_resources.listeners.forEach((l, i) =>
    l.filter_chains.forEach((fc, j) =>
      fc.filters.forEach((f, k) => {
        if (f.typed_config?.['@type'] === HCM_TYPE) {
          hcms.push({ path: `static_resources.listeners[${i}].filter_chains[${j}].filters[${k}].typed_config`, config: f.typed_config });
        }
      }),
    ),
  );
  const [only, ...others] = hcms;
  if (only === undefined || others.length > 0) {
    throw new ConfigError('envoy_config', `${source}: expected exactly one http_connection_manager, found ${hcms.length}`);
  }
  const hcm = checkAt(hcmSchema, only.config, source, only.path);

  const filterPath = (i: number): string => `${only.path}.http_filters[${i}].typed_config`;
  const extAuthzAt = hcm.http_filters.findIndex((f) => f.typed_config?.['@type'] === EXT_AUTHZ_TYPE);
  const extAuthzFilter = hcm.http_filters[extAuthzAt];
  if (extAuthzFilter === undefined) {
    throw new ConfigError('envoy_config', `${source}: ${only.path}.http_filters: no envoy.filters.http.ext_authz filter (${EXT_AUTHZ_TYPE})`);
  }
  const authz = checkAt(extAuthzSchema, extAuthzFilter.typed_config, source, filterPath(extAuthzAt));

  // Only removals that run before ext_authz protect what it and the upstream see.
  const prefixes: string[] = [];
  hcm.http_filters.slice(0, extAuthzAt).forEach((f, i) => {
    if (f.typed_config?.['@type'] !== HEADER_MUTATION_TYPE) return;
    const hm = checkAt(headerMutationSchema, f.typed_config, source, filterPath(i));
    for (const m of hm.mutations.request_mutations) prefixes.push(m.remove_on_match.key_matcher.prefix.toLowerCase());
  });

  const response = authz.http_service.authorization_response;
  const protections = parseProtections(doc, only.config, only.path, hcm.http_filters, source);
  const localReplies = parseLocalReplyConfig(only.config.local_reply_config, source, `${only.path}.local_reply_config`);
  return deepFreeze({
    authz: {
      pathPrefix: authz.http_service.path_prefix,
      timeoutMs: authz.http_service.server_uri.timeout,
      failureModeAllow: authz.failure_mode_allow,
      statusOnError: authz.status_on_error?.code ?? 403,
      allowedRequestHeaders: authz.allowed_headers?.patterns ?? [],
      allowedUpstreamHeaders: response.allowed_upstream_headers?.patterns ?? [],
      allowedClientHeaders: response.allowed_client_headers?.patterns ?? [],
      allowedClientHeadersOnSuccess: response.allowed_client_headers_on_success?.patterns ?? [],
    },
    removedRequestHeaderPrefixes: prefixes,
    routes: (hcm.route_config.virtual_hosts[0]?.routes ?? []).map((r) => ({
      prefix: r.match.prefix,
      cluster: r.route.cluster,
      timeoutMs: r.route.timeout ?? DEFAULT_ROUTE_TIMEOUT_MS,
      upgrades: enabledUpgrades(hcm.upgrade_configs, r.route.upgrade_configs),
    })),
    xfcc: {
      mode: hcm.forward_client_cert_details,
      subject: hcm.set_current_client_cert_details.subject,
      uri: hcm.set_current_client_cert_details.uri,
      cert: hcm.set_current_client_cert_details.cert,
      hash: true,
    },
    protections,
    localReplies,
  });
}

/**
 * The upgrade types a route accepts, as Envoy decides it: a route's own entry for a type wins
 * (enabled or not); otherwise the connection manager's.
 */
function enabledUpgrades(hcm: z.output<typeof upgradeConfigs>, route: z.output<typeof upgradeConfigs>): string[] {
  const enabled = new Map<string, boolean>();
  for (const u of [...hcm, ...route]) enabled.set(u.upgrade_type.toLowerCase(), u.enabled);
  return [...enabled].filter(([, on]) => on).map(([type]) => type);
}

/**
 * True when `headerName` matches one of `matchers` the way Envoy matches header names: names are
 * compared in lower case (Envoy's header maps hold them so), and `ignoreCase` also folds the
 * pattern.
 */
export function matches(matchers: readonly StringMatcher[], headerName: string): boolean {
  const name = headerName.toLowerCase();
  return matchers.some((m) => {
    const fold = (s: string): string => (m.ignoreCase ? s.toLowerCase() : s);
    if ('exact' in m) return name === fold(m.exact);
    if ('prefix' in m) return name.startsWith(fold(m.prefix));
    if ('suffix' in m) return name.endsWith(fold(m.suffix));
    return name.includes(fold(m.contains));
  });
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
