/**
 * What the rating API test groups share: the running app of the current test, its harness, and
 * request and assertion helpers. The suite (rating-api-suite.ts) creates one per store.
 */
import assert from 'node:assert/strict';
import type { Response } from 'supertest';
import type { ItemKey, StoredRating } from '../../../src/rating/rating-store.js';
import type { TestPki } from '../../helpers/given-pki.js';
import { ALICE, ratingsPath, ztHeaders, type CallerHeaders, type RunningApi } from './rating-harness.js';
import { aggregateBody, bodyOf, errorBody, writeBody, type ErrorBody } from './response-shapes.js';

export interface ApiSuiteHarness {
  pki(): TestPki;
  /** A fresh app over an empty store; the suite closes it after the test. */
  open(): Promise<RunningApi>;
  /** How many records the backend holds (items in memory, keys in Redis): 0 means nothing stored. */
  storedRecords(api: RunningApi): Promise<number>;
  /** One user's rating as the backend holds it (the API never returns one), or undefined. */
  storedRating(api: RunningApi, key: ItemKey, user: string): Promise<StoredRating | undefined>;
}

export interface SuiteContext {
  /** The app of the running test (a fresh one per test). */
  readonly api: RunningApi;
  readonly harness: ApiSuiteHarness;
  readonly post: (path: string, caller: CallerHeaders, body: unknown) => Promise<Response>;
  readonly read: (path: string, caller?: CallerHeaders) => Promise<Response>;
  readonly del: (path: string, caller: CallerHeaders) => Promise<Response>;
  /** One user's rating of acme/<item> as the backend holds it. */
  readonly stored: (user: string, item?: string) => Promise<StoredRating | undefined>;
  /** Nothing in the backend, an empty aggregate for acme/i1, and no rating_written log line. */
  readonly assertNothingStored: () => Promise<void>;
}

export const ACME_I1 = ratingsPath('acme', 'i1');
export const rater = (subject: string): CallerHeaders => ({ ...ALICE, subject });

/** Asserts an error response of the given status and reason code, and returns its body. */
export function assertError(res: Response, status: number, code: string): ErrorBody {
  assert.equal(res.status, status, `status of ${res.text}`);
  // Every error body is rendered by sendError, with exactly this type (success bodies keep Express's).
  assert.equal(res.headers['content-type'], 'application/json');
  const body = bodyOf(errorBody, res);
  assert.equal(body.error, code);
  assert.notEqual(body.request_id, '');
  return body;
}

export const agg = (res: Response) => bodyOf(aggregateBody, res);
export const written = (res: Response) => bodyOf(writeBody, res);

/** Registers the hooks that open and close an app per test, and returns the context that reads them. */
export function suiteContext(harness: () => ApiSuiteHarness): SuiteContext {
  let current: { api: RunningApi; harness: ApiSuiteHarness } | undefined;
  beforeEach(async () => {
    const h = harness();
    current = { api: await h.open(), harness: h };
  });
  afterEach(async () => {
    await current?.api.close();
    current = undefined;
  });
  const now = (): { api: RunningApi; harness: ApiSuiteHarness } => {
    if (current === undefined) throw new Error('no app outside a test');
    return current;
  };
  return {
    get api() {
      return now().api;
    },
    get harness() {
      return now().harness;
    },
    post: (path, caller, body) => now().api.as().post(path).set(ztHeaders(caller)).send(body as object),
    read: (path, caller = ALICE) => now().api.as().get(path).set(ztHeaders(caller)),
    del: (path, caller) => now().api.as().delete(path).set(ztHeaders(caller)),
    stored: (user, item = 'i1') => now().harness.storedRating(now().api, { tenant: 'acme', item }, user),
    assertNothingStored: async () => {
      const { api, harness: h } = now();
      assert.equal(await h.storedRecords(api), 0, 'the store holds nothing');
      assert.deepEqual(await api.store.aggregate({ tenant: 'acme', item: 'i1' }), { count: 0, sum: 0, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } });
      assert.equal(api.logs.withMsg('rating_written').length, 0);
    },
  };
}
