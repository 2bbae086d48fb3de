import assert from 'node:assert/strict';
import { viewOf } from '../../../src/rating/aggregate.js';
import { bodyError } from '../../../src/rating/json-body.js';
import { ID_PATTERN, itemParamsSchema, parseOrReject, ratingBodySchema } from '../../../src/rating/validation.js';
import { AppError } from '../../../src/shared/errors.js';

describe('rating validation', () => {
  it('accepts ids of the documented shape and nothing else', () => {
    for (const ok of ['acme', 'i1', 'public-item.v2', 'a_b', '0', 'x'.repeat(64)]) assert.ok(ID_PATTERN.test(ok), ok);
    for (const bad of ['', 'ACME', '.x', '..', '-x', 'a:b', 'a/b', 'a b', 'x'.repeat(65), 'é']) assert.ok(!ID_PATTERN.test(bad), bad);
  });

  it('parses a valid body and keeps an absent comment absent', () => {
    assert.deepEqual(parseOrReject(ratingBodySchema, { score: 5 }), { score: 5 });
    assert.deepEqual(parseOrReject(ratingBodySchema, { score: 1, comment: '' }), { score: 1, comment: '' });
  });

  it('throws 400 invalid_request with every bad field, in its own words', () => {
    assert.throws(
      () => parseOrReject(itemParamsSchema, { tenant: 'Acme', item: 'ok' }),
      (err: unknown) => {
        assert.ok(err instanceof AppError);
        assert.equal(err.code, 'invalid_request');
        assert.equal(err.status, 400);
        assert.deepEqual(err.details, { fields: [{ path: 'tenant', message: 'must be 1-64 characters of a-z, 0-9, ".", "_" or "-", starting with a letter or digit' }] });
        return true;
      },
    );
  });

  it('maps body-parser failures to reason codes and keeps their text out of the public message', () => {
    const cases: [object, string, number][] = [
      [{ type: 'entity.parse.failed', status: 400, message: 'Unexpected token' }, 'invalid_json', 400],
      [{ type: 'entity.too.large', status: 413, message: 'request entity too large' }, 'payload_too_large', 413],
      [{ type: 'charset.unsupported', status: 415, message: 'unsupported charset "LATIN1"' }, 'unsupported_media_type', 415],
      [{ type: 'encoding.unsupported', status: 415, message: 'content encoding unsupported' }, 'unsupported_media_type', 415],
      [{ type: 'request.aborted', status: 400, message: 'request aborted' }, 'invalid_request', 400],
      [{ type: 'stream.not.readable', status: 500, message: 'stream is not readable' }, 'internal_error', 500],
      [new Error('anything else'), 'internal_error', 500],
    ];
    for (const [err, code, status] of cases) {
      const mapped = bodyError(err);
      assert.equal(mapped.code, code);
      assert.equal(mapped.status, status);
      assert.equal(mapped.cause, err);
      assert.doesNotMatch(mapped.publicMessage, /Unexpected|LATIN1|aborted|readable|anything/);
    }
  });

  it('derives the average at full precision and null for no ratings', () => {
    assert.equal(viewOf({ count: 3, sum: 10, histogram: { '1': 0, '2': 0, '3': 2, '4': 1, '5': 0 } }).average, 10 / 3);
    assert.equal(viewOf({ count: 0, sum: 0, histogram: { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 } }).average, null);
  });
});
