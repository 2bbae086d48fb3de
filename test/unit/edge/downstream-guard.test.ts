import assert from 'node:assert/strict';
import { downstreamServerOptions } from '../../../src/edge/downstream-guard.js';
import { loadEnvoyConfig } from '../../../src/edge/envoy-config.js';
import { ENVOY_YAML } from '../../helpers/edge-under-test.js';

/** The acceptance's bound: a client sending one header byte a second is cut within 11 s. */
const SLOW_HEAD_BOUND_MS = 11_000;

/** What the bound must leave for the event loop's own lag on a busy host. */
const LAG_ALLOWANCE_MS = 500;

describe('dev edge downstream guard', () => {
  it("cuts a slow head by request_headers_timeout plus Node's check interval, within the 11 s bound with room for event-loop lag", () => {
    const { protections } = loadEnvoyConfig(ENVOY_YAML);
    const interval = downstreamServerOptions(protections).connectionsCheckingIntervalMs;
    assert.ok(interval !== undefined && interval > 0, 'the dev edge sets its own check interval (Node checks every 30 s by default)');
    const latest = protections.requestHeadersTimeoutMs + interval;
    assert.ok(latest + LAG_ALLOWANCE_MS <= SLOW_HEAD_BOUND_MS, `latest cut ${latest} ms, leaving ${SLOW_HEAD_BOUND_MS - latest} ms of the ${SLOW_HEAD_BOUND_MS} ms bound`);
  });
});
