import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { ConfigError } from '../../../src/shared/errors.js';
import { loadPolicyEngine } from '../../../src/authz/policy/load-policy-engine.js';
import { PolicyOutputError, decisionFromResultSet, type PolicyDecision } from '../../../src/authz/policy/policy-engine.js';
import { WasmPolicyEngine } from '../../../src/authz/policy/wasm-policy-engine.js';
import { aliceInput, dataPath, givenBuiltPolicy, wasmPath } from '../../helpers/given-policy.js';

const POLICY_ERROR: PolicyDecision = { allow: false, status: 403, reason: 'policy_error', limits: [], upstream_headers: {}, detail: '', tier: '' };

/** Resolves with the ConfigError `promise` rejects with, failing the test if it resolves. */
async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected the load to fail');
}

describe('loading the policy engine', () => {
  let dir: string;
  let shippedData: Record<string, unknown>;

  before(async function () {
    this.timeout(120_000);
    await givenBuiltPolicy();
    dir = await mkdtemp(join(tmpdir(), 'zt-policy-test-'));
    shippedData = JSON.parse(await readFile(dataPath, 'utf8')) as Record<string, unknown>;
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** The shipped data with `limits.global` replaced, written to a file of its own. */
  async function dataWithGlobal(name: string, global: unknown): Promise<string> {
    const path = join(dir, name);
    const limits = { ...(shippedData.limits as Record<string, unknown>), global };
    await writeFile(path, JSON.stringify({ ...shippedData, limits }));
    return path;
  }

  describe('file errors', () => {
    it('names the wasm file when it is missing', async () => {
      const missing = join(dir, 'nope', 'policy.wasm');
      const err = await configError(loadPolicyEngine({ wasmPath: missing, dataPath }));
      assert.equal(err.code, 'policy_wasm_missing');
      assert.match(err.message, new RegExp(`${missing}: file not found`));
    });

    it('names the wasm file when it is corrupt', async () => {
      const corrupt = join(dir, 'corrupt.wasm');
      const real = await readFile(wasmPath);
      await writeFile(corrupt, real.subarray(0, Math.floor(real.length / 2)));
      const err = await configError(loadPolicyEngine({ wasmPath: corrupt, dataPath }));
      assert.equal(err.code, 'policy_wasm_invalid');
      assert.ok(err.message.includes(`policy wasm ${corrupt}: not a loadable OPA wasm module`), err.message);
    });

    it('names the wasm file when it is a wasm module but not an OPA policy', async () => {
      const empty = join(dir, 'empty.wasm');
      await writeFile(empty, Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]));
      const err = await configError(loadPolicyEngine({ wasmPath: empty, dataPath }));
      assert.equal(err.code, 'policy_wasm_invalid');
      assert.ok(err.message.includes(empty), err.message);
    });

    it('names the data file when it is missing', async () => {
      const missing = join(dir, 'missing.json');
      const err = await configError(loadPolicyEngine({ wasmPath, dataPath: missing }));
      assert.equal(err.code, 'policy_data_missing');
      assert.ok(err.message.includes(`${missing}: file not found`), err.message);
    });

    it('names the data file when it is not JSON', async () => {
      const broken = join(dir, 'broken.json');
      await writeFile(broken, '{"tiers": {');
      const err = await configError(loadPolicyEngine({ wasmPath, dataPath: broken }));
      assert.equal(err.code, 'policy_data_invalid');
      assert.ok(err.message.includes(`policy data ${broken}: not valid JSON`), err.message);
    });

    it('names the data file and the field when the data does not fit the policy', async () => {
      const bad = await dataWithGlobal('bad-capacity.json', { capacity: '200', refill_per_s: 200, cost: 1 });
      const err = await configError(loadPolicyEngine({ wasmPath, dataPath: bad }));
      assert.equal(err.code, 'policy_data_invalid');
      assert.ok(err.message.includes(`policy data ${bad}: limits.global.capacity`), err.message);
    });

    it('refuses a tenant whose tier the data does not define', async () => {
      const path = join(dir, 'unknown-tier.json');
      const tenants = { acme: { home_region: 'us-east', tier: 'platinum' } };
      await writeFile(path, JSON.stringify({ ...shippedData, tenants }));
      const err = await configError(loadPolicyEngine({ wasmPath, dataPath: path }));
      assert.equal(err.code, 'policy_data_invalid');
      assert.ok(err.message.includes('tenants.acme.tier: unknown tier "platinum"'), err.message);
    });

    it('loads other valid data and the policy follows it', async () => {
      const path = await dataWithGlobal('big-global.json', { capacity: 1000, refill_per_s: 500, cost: 2 });
      const engine = await loadPolicyEngine({ wasmPath, dataPath: path });
      const d = engine.evaluate(aliceInput());
      assert.equal(d.reason, 'allowed');
      assert.deepEqual(d.limits[0], { name: 'global', key: 'global', capacity: 1000, refill_per_s: 500, cost: 2 });
    });
  });

  describe('policy_error', () => {
    it('denies 403 policy_error when bad data makes the real policy return an off-contract decision', async () => {
      // The loader would refuse this data; set it directly to see what the engine does if it slips by.
      const policy = await loadPolicy(await readFile(wasmPath));
      const limits = { ...(shippedData.limits as Record<string, unknown>), global: { capacity: '200', refill_per_s: 200, cost: 1 } };
      policy.setData({ ...shippedData, limits });
      const causes: unknown[] = [];
      const engine = new WasmPolicyEngine(policy, (cause) => causes.push(cause));
      assert.deepEqual(engine.evaluate(aliceInput()), POLICY_ERROR);
      assert.equal(causes.length, 1);
      assert.ok(causes[0] instanceof PolicyOutputError);
      assert.match(causes[0].message, /limits\.0\.capacity/);
    });

    it('denies 403 policy_error when bad data leaves the real policy unable to size a bucket', async () => {
      const policy = await loadPolicy(await readFile(wasmPath));
      policy.setData({ ...shippedData, tiers: { free: { per_minute: 'sixty' } } });
      assert.deepEqual(new WasmPolicyEngine(policy).evaluate(aliceInput()), POLICY_ERROR);
    });

    it('denies 403 policy_error and reports the cause when evaluation throws', () => {
      const causes: unknown[] = [];
      const aborting = {
        evaluate(): unknown {
          // opa-wasm throws a bare string on opa_abort (e.g. a complete rule with two values).
          // eslint-disable-next-line @typescript-eslint/only-throw-error
          throw 'var assignment conflict';
        },
      };
      const engine = new WasmPolicyEngine(aborting, (cause) => causes.push(cause));
      assert.deepEqual(engine.evaluate(aliceInput()), POLICY_ERROR);
      assert.ok(causes[0] instanceof Error);
      assert.match(causes[0].message, /var assignment conflict/);
    });
  });

  describe('decision contract', () => {
    const allow = {
      allow: true,
      status: 200,
      reason: 'allowed',
      limits: [{ name: 'global', key: 'global', capacity: 1, refill_per_s: 1, cost: 1 }],
      upstream_headers: { 'x-zt-subject': 'a', 'x-zt-tenant': 't', 'x-zt-roles': 'rater', 'x-zt-client': 'spiffe://zt.local/us-east/client/a' },
      detail: '',
      tier: 'free',
    };
    const deny = { allow: false, status: 403, reason: 'forbidden_role', limits: [], upstream_headers: {}, detail: '', tier: '' };

    it('accepts a well-formed allow and a well-formed deny, and an invalid_token deny with its detail', () => {
      assert.deepEqual(decisionFromResultSet([{ result: allow }]), allow);
      assert.deepEqual(decisionFromResultSet([{ result: deny }]), deny);
      const unbound = { ...deny, status: 401, reason: 'invalid_token', detail: 'unbound_token' };
      assert.deepEqual(decisionFromResultSet([{ result: unbound }]), unbound);
    });

    it('turns every off-contract result into a policy_error deny', () => {
      const broken: Array<[string, unknown]> = [
        ['an undefined decision (empty result set)', []],
        ['two solutions', [{ result: deny }, { result: deny }]],
        ['not a result set', { result: allow }],
        ['an unknown reason', [{ result: { ...deny, reason: 'because' } }]],
        ['an allow that is not 200', [{ result: { ...allow, status: 201 } }]],
        ['an allow without an upstream header', [{ result: { ...allow, upstream_headers: { 'x-zt-subject': 'a' } } }]],
        ['an allow setting a non x-zt header', [{ result: { ...allow, upstream_headers: { ...allow.upstream_headers, host: 'evil' } } }]],
        ['a header value with a line break', [{ result: { ...allow, upstream_headers: { ...allow.upstream_headers, 'x-zt-subject': 'a\r\nx: y' } } }]],
        ['a deny that charges buckets', [{ result: { ...deny, limits: allow.limits } }]],
        ['a deny with headers', [{ result: { ...deny, upstream_headers: allow.upstream_headers } }]],
        ['a deny with status 200', [{ result: { ...deny, status: 200 } }]],
        ['a deny whose status is not its reason\'s (reasons.ts)', [{ result: { ...deny, status: 401 } }]],
        ['a missing_token deny that is not a 401', [{ result: { ...deny, reason: 'missing_token' } }]],
        ['a deny with reason allowed', [{ result: { ...deny, reason: 'allowed' } }]],
        ['a bucket with zero capacity', [{ result: { ...allow, limits: [{ ...allow.limits[0], capacity: 0 }] } }]],
        ['an allow that names no tier', [{ result: { ...allow, tier: '' } }]],
        ['a decision without a detail', [{ result: { allow: deny.allow, status: deny.status, reason: deny.reason, limits: [], upstream_headers: {}, tier: '' } }]],
        ['an unknown detail', [{ result: { ...deny, status: 401, reason: 'invalid_token', detail: 'because' } }]],
        ['a detail on another reason', [{ result: { ...deny, detail: 'unbound_token' } }]],
      ];
      for (const [what, resultSet] of broken) {
        let cause: unknown;
        assert.deepEqual(decisionFromResultSet(resultSet, (c) => (cause = c)), POLICY_ERROR, what);
        assert.ok(cause instanceof PolicyOutputError, what);
      }
    });
  });
});
