import assert from 'node:assert/strict';
import { clientMessageSchema, serverMessageSchema } from '../../../src/rating/stream/stream-messages.js';

/** The field paths of a client message's errors, or [] when it is valid. */
function badFields(value: unknown): string[] {
  const parsed = clientMessageSchema.safeParse(value);
  return parsed.success ? [] : parsed.error.issues.map((i) => i.path.join('.')).sort();
}

describe('stream messages: the shapes of zt-ratings.v1', () => {
  it('accepts each client message as the README shows it', () => {
    for (const m of [
      { type: 'ping', id: 'p1' },
      { type: 'rate', id: 'r1', score: 4 },
      { type: 'rate', id: 'r2', score: 5, comment: 'great' },
      { type: 'delete', id: 'd1', user: 'bob' },
      { type: 'refresh', id: 't1', token: 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln' },
    ]) {
      assert.deepEqual(badFields(m), [], JSON.stringify(m));
    }
  });

  it('applies the POST body\'s rules to a rate: an integer score 1..5, a comment of at most 500, nothing else', () => {
    assert.deepEqual(badFields({ type: 'rate', id: 'r', score: 6 }), ['score']);
    assert.deepEqual(badFields({ type: 'rate', id: 'r', score: '5' }), ['score']);
    assert.deepEqual(badFields({ type: 'rate', id: 'r', score: 4.5 }), ['score']);
    assert.deepEqual(badFields({ type: 'rate', id: 'r', score: 4, comment: 'x'.repeat(501) }), ['comment']);
    assert.deepEqual(badFields({ type: 'rate', id: 'r', score: 4, user: 'mallory' }), ['']);
  });

  it('names the field of a bad id, a bad user and a token that is not a compact JWT', () => {
    assert.deepEqual(badFields({ type: 'ping', id: '' }), ['id']);
    assert.deepEqual(badFields({ type: 'ping', id: 'a b' }), ['id']);
    assert.deepEqual(badFields({ type: 'delete', id: 'd', user: 'Bob/..' }), ['user']);
    assert.deepEqual(badFields({ type: 'refresh', id: 't', token: 'Bearer x' }), ['token']);
  });

  it('refuses an unknown type and a message that is no object, naming the type', () => {
    assert.deepEqual(badFields({ type: 'subscribe', id: 'x' }), ['type']);
    assert.deepEqual(badFields([]), ['']);
    assert.deepEqual(badFields('ping'), ['']);
  });

  it('reads every server message the README shows', () => {
    const aggregate = { count: 2, average: 3.5, histogram: { '1': 0, '2': 0, '3': 1, '4': 1, '5': 0 } };
    for (const m of [
      { type: 'snapshot', tenant: 'acme', item: 'widget', seq: 41, aggregate, expires_at: '2026-01-01T10:00:00.000Z', resync: false },
      { type: 'update', item: 'widget', seq: 42, change: 'created', aggregate },
      { type: 'pong', ref: 'p1' },
      { type: 'result', ref: 'r1', status: 201, rating: { item: 'widget', user: 'alice', score: 4, created: true, seq: 42, aggregate } },
      { type: 'result', ref: 'd1', status: 204 },
      { type: 'refreshed', ref: 't1', expires_at: '2026-01-01T10:10:00.000Z' },
      { type: 'error', ref: 'r1', error: 'invalid_request', fields: [{ path: 'score', message: 'must be an integer from 1 to 5' }] },
      { type: 'error', ref: null, error: 'rate_limited', retry_after_ms: 500 },
    ]) {
      assert.ok(serverMessageSchema.safeParse(m).success, JSON.stringify(m));
    }
    assert.equal(serverMessageSchema.safeParse({ type: 'update', item: 'w', seq: 1, change: 'upserted', aggregate }).success, false);
  });
});
