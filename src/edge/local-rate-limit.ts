/**
 * envoy.yaml's `local_ratelimit` backstop for the dev edge: one token bucket per edge in front of
 * authz, filled as Envoy fills it (`tokens_per_fill` every `fill_interval`, up to `max_tokens`,
 * starting full). A request that finds it empty is answered 429 by the edge itself, with the
 * filter's `response_headers_to_add` (retry-after) and the local reply body (`rate_limited`),
 * before authz is asked. Counted under Envoy's stat names (`<stat_prefix>.http_local_rate_limit.*`).
 */
import { performance } from 'node:perf_hooks';
import type { LocalRateLimit } from './envoy-protections.js';
import type { LocalReply } from './local-reply.js';
import type { EdgeStats } from './stats.js';

export class LocalRateLimiter {
  #tokens: number;
  #filledAt: number;
  readonly #stat: string;

  constructor(
    private readonly spec: LocalRateLimit,
    private readonly stats: EdgeStats,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = spec.maxTokens;
    this.#filledAt = now();
    this.#stat = `${spec.statPrefix}.http_local_rate_limit`;
    stats.declare(`${this.#stat}.enabled`, `${this.#stat}.enforced`, `${this.#stat}.ok`, `${this.#stat}.rate_limited`);
  }

  /** Takes a token for one request: undefined when it may go on, else the 429 the edge answers. */
  admit(): LocalReply | undefined {
    this.stats.inc(`${this.#stat}.enabled`);
    const fills = Math.floor((this.now() - this.#filledAt) / this.spec.fillIntervalMs);
    if (fills > 0) {
      this.#tokens = Math.min(this.spec.maxTokens, this.#tokens + fills * this.spec.tokensPerFill);
      this.#filledAt += fills * this.spec.fillIntervalMs;
    }
    if (this.#tokens > 0) {
      this.#tokens--;
      this.stats.inc(`${this.#stat}.ok`);
      return undefined;
    }
    this.stats.inc(`${this.#stat}.rate_limited`);
    this.stats.inc(`${this.#stat}.enforced`);
    return { status: 429, details: 'local_rate_limited', flags: ['RL'], headers: this.spec.responseHeaders, defaultBody: 'local_rate_limited' };
  }
}
