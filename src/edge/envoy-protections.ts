/**
 * The protections envoy.yaml gives the edge against slow, oversized and abusive clients, read for
 * the dev edge from the same file Envoy runs, with Envoy's own defaults where the file is silent:
 * - the connection manager's `request_headers_timeout`, `stream_idle_timeout`,
 *   `common_http_protocol_options.idle_timeout`, `max_request_headers_kb` and `max_headers_count`;
 * - the overload manager's `global_downstream_max_connections` monitor;
 * - the `local_ratelimit` backstop (its token bucket and the headers it adds to its 429), and the
 *   small-body buffer before it (small-body-buffer.ts);
 * - how many HTTP/1.1 connections the dev edge's checks share: the authz cluster's
 *   `max_concurrent_streams` when the cluster speaks HTTP/2 (the dev edge speaks HTTP/1.1, one check
 *   per connection, so it carries as many checks at once as Envoy does on one connection), else
 *   its circuit breaker's `max_connections`.
 * Anything the dev edge could not reproduce (a per-descriptor rate limit, a fraction other than all
 * or nothing) is refused at start with the field that holds it, as envoy-config.ts does.
 */
import { z } from 'zod';
import { ConfigError } from '../shared/errors.js';
import { checkAt, durationMs } from './envoy-schema.js';
import { isComposite, readSmallBodyBuffer, type SmallBodyBuffer } from './small-body-buffer.js';

/** The local_ratelimit filter's token bucket: `maxTokens` to start, `tokensPerFill` more every `fillIntervalMs`. */
export interface LocalRateLimit {
  readonly statPrefix: string;
  readonly maxTokens: number;
  readonly tokensPerFill: number;
  readonly fillIntervalMs: number;
  /** `response_headers_to_add` of the filter: what its 429 carries (retry-after). */
  readonly responseHeaders: Readonly<Record<string, string>>;
}

/** What the dev edge takes from envoy.yaml to protect itself; every number is Envoy's. */
export interface EnvoyProtections {
  /** The whole request head must arrive within this long of its first byte; 0 disables it. */
  readonly requestHeadersTimeoutMs: number;
  /** A stream with no activity either way for this long is ended (408 before the response starts). */
  readonly streamIdleTimeoutMs: number;
  /** A connection with no request for this long is closed. */
  readonly idleTimeoutMs: number;
  /** The request line and headers together, in bytes. */
  readonly maxRequestHeadersBytes: number;
  /** Headers per request. */
  readonly maxHeadersCount: number;
  /** Open downstream connections, process-wide; undefined when the overload manager sets none. */
  readonly maxDownstreamConnections: number | undefined;
  /** The backstop in front of authz; undefined when envoy.yaml has no local_ratelimit filter. */
  readonly localRateLimit: LocalRateLimit | undefined;
  /** Requests read whole before the backstop (a composite filter before it); undefined when none. */
  readonly smallBodyBuffer: SmallBodyBuffer | undefined;
  /** HTTP/1.1 connections the dev edge opens to authz at most; checks beyond wait for one. */
  readonly authzMaxConnections: number;
}

// Envoy's defaults (the v3 API docs of each field).
const DEFAULT_STREAM_IDLE_MS = 5 * 60_000;
const DEFAULT_IDLE_MS = 60 * 60_000;
const DEFAULT_MAX_HEADERS_KB = 60;
const DEFAULT_MAX_HEADERS_COUNT = 100;
const DEFAULT_MAX_CONNECTIONS = 1024;
const DEFAULT_MAX_CONCURRENT_STREAMS = 2_147_483_647;

const LOCAL_RATE_LIMIT_TYPE = 'type.googleapis.com/envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit';
const DOWNSTREAM_CONNECTIONS_MONITOR = 'envoy.resource_monitors.global_downstream_max_connections';

const hcmLimitsSchema = z.object({
  request_headers_timeout: durationMs.optional(),
  stream_idle_timeout: durationMs.optional(),
  max_request_headers_kb: z.number().int().min(1).max(8192).optional(),
  common_http_protocol_options: z
    .object({ idle_timeout: durationMs.optional(), max_headers_count: z.number().int().min(1).optional() })
    .optional(),
});

/** A runtime fraction that is on or off for every request; the dev edge has no partial enforcement. */
const wholeFraction = z
  .object({ default_value: z.object({ numerator: z.number().int(), denominator: z.literal('HUNDRED').default('HUNDRED') }) })
  .refine((f) => f.default_value.numerator === 100, 'the dev edge enforces a local rate limit for all requests or not at all (numerator 100, denominator HUNDRED)');

const localRateLimitSchema = z
  .object({
    stat_prefix: z.string().min(1),
    token_bucket: z.object({
      max_tokens: z.number().int().min(1),
      tokens_per_fill: z.number().int().min(1).default(1),
      fill_interval: durationMs.refine((ms) => ms >= 50, 'Envoy requires a fill_interval of at least 50 ms'),
    }),
    filter_enabled: wholeFraction,
    filter_enforced: wholeFraction,
    response_headers_to_add: z
      .array(z.object({ header: z.object({ key: z.string().min(1), value: z.string() }), append_action: z.string().optional() }))
      .default([]),
    descriptors: z.array(z.unknown()).max(0, 'the dev edge reproduces the filter-wide bucket only, not descriptors').optional(),
  })
  .loose();

const overloadSchema = z
  .object({
    resource_monitors: z
      .array(z.object({ name: z.string(), typed_config: z.object({ max_active_downstream_connections: z.coerce.number().int().min(1).optional() }).loose().optional() }))
      .default([]),
  })
  .loose()
  .optional();

const clustersSchema = z
  .array(
    z
      .object({
        name: z.string(),
        circuit_breakers: z
          .object({ thresholds: z.array(z.object({ priority: z.string().optional(), max_connections: z.number().int().min(1).optional() }).loose()).default([]) })
          .optional(),
        typed_extension_protocol_options: z
          .object({
            'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': z
              .object({
                explicit_http_config: z
                  .object({ http2_protocol_options: z.object({ max_concurrent_streams: z.number().int().min(1).optional() }).loose().optional() })
                  .loose()
                  .optional(),
              })
              .loose()
              .optional(),
          })
          .loose()
          .optional(),
      })
      .loose(),
  )
  .default([]);

/** One HTTP filter of the connection manager, as envoy-config.ts hands them over. */
export interface HttpFilter {
  readonly typed_config?: Record<string, unknown> | undefined;
}

/**
 * Reads the protections from the parsed bootstrap (`doc`), its one connection manager (`hcm`, at
 * `hcmPath`) and that manager's filters, in `source` (a file name, for errors).
 */
export function parseProtections(doc: unknown, hcm: Record<string, unknown>, hcmPath: string, filters: readonly HttpFilter[], source: string): EnvoyProtections {
  const limits = checkAt(hcmLimitsSchema, hcm, source, hcmPath);
  const root = (doc ?? {}) as { overload_manager?: unknown; static_resources?: { clusters?: unknown } };
  const overload = checkAt(overloadSchema, root.overload_manager, source, 'overload_manager');
  const monitor = overload?.resource_monitors.find((m) => m.name === DOWNSTREAM_CONNECTIONS_MONITOR);
  const clusters = checkAt(clustersSchema, root.static_resources?.clusters, source, 'static_resources.clusters');
  const authz = clusters.find((c) => c.name === 'authz');
  const defaults = authz?.circuit_breakers?.thresholds.find((t) => (t.priority ?? 'DEFAULT') === 'DEFAULT');
  const h2 = authz?.typed_extension_protocol_options?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions']?.explicit_http_config?.http2_protocol_options;

  const at = filters.findIndex((f) => f.typed_config?.['@type'] === LOCAL_RATE_LIMIT_TYPE);
  let localRateLimit: LocalRateLimit | undefined;
  if (at !== -1) {
    const l = checkAt(localRateLimitSchema, filters[at]?.typed_config, source, `${hcmPath}.http_filters[${at}].typed_config`);
    localRateLimit = {
      statPrefix: l.stat_prefix,
      maxTokens: l.token_bucket.max_tokens,
      tokensPerFill: l.token_bucket.tokens_per_fill,
      fillIntervalMs: l.token_bucket.fill_interval,
      responseHeaders: Object.fromEntries(l.response_headers_to_add.map((h) => [h.header.key.toLowerCase(), h.header.value])),
    };
  }
  // The dev edge reproduces a composite filter only as the small-body buffer, before the backstop.
  const compositeAt = filters.findIndex((f) => isComposite(f.typed_config));
  const compositePath = `${hcmPath}.http_filters[${compositeAt}].typed_config`;
  if (compositeAt !== -1 && (at === -1 || compositeAt > at)) {
    throw new ConfigError('envoy_config', `${source}: ${compositePath}: the dev edge reproduces a composite filter only as a buffer before the local_ratelimit filter`);
  }
  if (filters.filter((f) => isComposite(f.typed_config)).length > 1) throw new ConfigError('envoy_config', `${source}: ${hcmPath}.http_filters: the dev edge reproduces one composite filter`);
  const smallBodyBuffer = compositeAt === -1 ? undefined : readSmallBodyBuffer(filters[compositeAt]?.typed_config, source, compositePath);
  return {
    requestHeadersTimeoutMs: limits.request_headers_timeout ?? 0,
    streamIdleTimeoutMs: limits.stream_idle_timeout ?? DEFAULT_STREAM_IDLE_MS,
    idleTimeoutMs: limits.common_http_protocol_options?.idle_timeout ?? DEFAULT_IDLE_MS,
    maxRequestHeadersBytes: (limits.max_request_headers_kb ?? DEFAULT_MAX_HEADERS_KB) * 1024,
    maxHeadersCount: limits.common_http_protocol_options?.max_headers_count ?? DEFAULT_MAX_HEADERS_COUNT,
    maxDownstreamConnections: monitor?.typed_config?.max_active_downstream_connections,
    localRateLimit,
    smallBodyBuffer,
    authzMaxConnections: h2 === undefined ? (defaults?.max_connections ?? DEFAULT_MAX_CONNECTIONS) : (h2.max_concurrent_streams ?? DEFAULT_MAX_CONCURRENT_STREAMS),
  };
}
