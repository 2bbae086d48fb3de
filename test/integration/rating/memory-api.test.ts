import { givenPki, type TestPki } from '../../helpers/given-pki.js';
import { behavesLikeTheRatingApi } from './rating-api-suite.js';
import { startApi, type RunningApi } from './rating-harness.js';
import { RecordingStore } from './recording-store.js';

describe('rating API over mTLS with the memory store', () => {
  let pki: TestPki;
  before(async () => {
    pki = await givenPki();
  });
  after(async () => {
    await pki.cleanup();
  });

  const recorded = (api: RunningApi): RecordingStore => api.store as RecordingStore;

  behavesLikeTheRatingApi(() => ({
    pki: () => pki,
    open: () => startApi(pki, new RecordingStore()),
    storedRecords: (api) => recorded(api).itemsStored(),
    storedRating: (api, key, user) => Promise.resolve(recorded(api).ratings(key).get(user)),
  }));
});
