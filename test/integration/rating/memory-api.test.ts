import { MemoryRatingStore } from '../../../src/rating/rating-store-memory.js';
import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { behavesLikeTheRatingApi } from './rating-api-suite.js';
import { startApi, type RunningApi } from './rating-harness.js';

describe('rating API over mTLS with the memory store', () => {
  let pki: TestPki;
  before(async () => {
    pki = await givenPki();
  });
  after(async () => {
    await pki.cleanup();
  });

  behavesLikeTheRatingApi(() => ({
    pki: () => pki,
    open: () => startApi(pki, new MemoryRatingStore()),
    storedRecords: (api: RunningApi) => Promise.resolve((api.store as MemoryRatingStore).itemCount),
  }));
});
