import assert from 'node:assert/strict';
import { eventsChannel, itemOfChannel } from '../../../src/rating/feed/events-channel.js';

describe('events channels: zt:rating-events:<tenant>:<item>', () => {
  it('names an item\'s channel with the prefix the Redis ACL grants, and reads it back', () => {
    assert.equal(eventsChannel({ tenant: 'acme', item: 'widget-1' }), 'zt:rating-events:acme:widget-1');
    assert.deepEqual(itemOfChannel('zt:rating-events:acme:widget-1'), { tenant: 'acme', item: 'widget-1' });
  });

  it('reads no item from another prefix or a channel with more parts', () => {
    assert.equal(itemOfChannel('zt:rating:acme:widget'), undefined);
    assert.equal(itemOfChannel('zt:rating-events:acme'), undefined);
    assert.equal(itemOfChannel('zt:rating-events:acme:a:b'), undefined);
  });
});
