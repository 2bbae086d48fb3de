import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadEnvoyConfig } from '../../../src/edge/envoy-config.js';

const ENVOY_YAML = fileURLToPath(new URL('../../../envoy/envoy.yaml', import.meta.url));
const DATA_JSON = fileURLToPath(new URL('../../../policies/data.json', import.meta.url));

interface Bucket {
  readonly capacity: number;
  readonly refill_per_s: number;
}

/**
 * The edge's backstop is no hidden cap below the policy's own limits: one edge that takes all the
 * traffic lets through exactly what policies/data.json's global bucket allows (the most any mix of
 * tenants gets through all edges together), no less. Envoy cannot read data.json, so the two
 * numbers live in two files and this keeps them in step.
 */
describe('the edge backstop, sized from the policy data', () => {
  const backstop = loadEnvoyConfig(ENVOY_YAML).protections.localRateLimit;
  const data = JSON.parse(readFileSync(DATA_JSON, 'utf8')) as { limits: { global: Bucket } };

  it("holds as many tokens as the policy's global bucket: a burst the policy admits is never shed at the edge", () => {
    assert.ok(backstop, 'envoy.yaml has a local_ratelimit backstop');
    assert.equal(backstop.maxTokens, data.limits.global.capacity);
  });

  it("refills at the policy's global rate", () => {
    assert.ok(backstop);
    assert.equal((backstop.tokensPerFill * 1000) / backstop.fillIntervalMs, data.limits.global.refill_per_s);
  });

  it('refills at least as fast as any tenant tier, so no tier is capped by it', () => {
    const tiers = (JSON.parse(readFileSync(DATA_JSON, 'utf8')) as { tiers: Record<string, { per_minute: number }> }).tiers;
    assert.ok(backstop);
    for (const [name, tier] of Object.entries(tiers)) assert.ok(tier.per_minute / 60 <= (backstop.tokensPerFill * 1000) / backstop.fillIntervalMs, name);
  });
});
