import {
  POLICY_ENTRYPOINT,
  decisionFromResultSet,
  policyErrorDecision,
  type PolicyDecision,
  type PolicyEngine,
  type PolicyErrorListener,
  type PolicyInput,
} from './policy-engine.js';

/**
 * The part of opa-wasm's `LoadedPolicy` the engine uses. opa-wasm types the result as `any`; it is
 * treated as unknown and parsed.
 */
export interface OpaWasmPolicy {
  evaluate(input: unknown, entrypoint: string): unknown;
}

/**
 * A {@link PolicyEngine} over a Rego policy compiled to wasm whose data has already been set.
 *
 * One loaded instance serves every request: opa-wasm evaluation is synchronous and resets its heap
 * per call, and JavaScript runs one evaluation at a time, so no call can see another's state.
 * Reloading per request would cost a wasm instantiation and a data copy each time.
 */
export class WasmPolicyEngine implements PolicyEngine {
  readonly #policy: OpaWasmPolicy;
  readonly #onError: PolicyErrorListener | undefined;

  constructor(policy: OpaWasmPolicy, onError?: PolicyErrorListener) {
    this.#policy = policy;
    this.#onError = onError;
  }

  /** Evaluates `zt/authz/decision`; a trap, an abort or an off-contract result is a `policy_error` deny. */
  evaluate(input: PolicyInput): PolicyDecision {
    let resultSet: unknown;
    try {
      resultSet = this.#policy.evaluate(input, POLICY_ENTRYPOINT);
    } catch (err) {
      // opa-wasm throws plain strings for aborts (e.g. conflicting rule values), so wrap them.
      this.#onError?.(err instanceof Error ? err : new Error(`policy evaluation aborted: ${String(err)}`));
      return policyErrorDecision();
    }
    return decisionFromResultSet(resultSet, this.#onError);
  }
}
