import assert from 'node:assert/strict';
import { clientFromXfcc } from '../../../src/authz/client-identity.js';
import { formatXfccElement } from '../../../src/shared/xfcc.js';

const BY = 'spiffe://zt.local/us-east/edge/envoy';
const element = (uri: string | string[]): string => formatXfccElement({ by: BY, hash: 'ab', subject: 'CN=x', uri });

describe('clientFromXfcc', () => {
  it('reads the client SPIFFE ID of the last element', () => {
    const id = clientFromXfcc(`${element('spiffe://zt.local/eu-central/client/bob')},${element('spiffe://zt.local/us-east/client/alice')}`, 'zt.local');
    assert.deepEqual(id, { uri: 'spiffe://zt.local/us-east/client/alice', trustDomain: 'zt.local', region: 'us-east', kind: 'client', name: 'alice' });
  });

  it('is undefined for anything that is not exactly one client of the trust domain', () => {
    const cases: Array<string | string[] | undefined> = [
      undefined,
      '',
      ['URI=spiffe://zt.local/us-east/client/alice'],
      'URI="unterminated',
      element([]),
      element(['spiffe://zt.local/us-east/client/alice', 'spiffe://zt.local/us-east/client/carol']),
      element('spiffe://other.local/us-east/client/alice'),
      element('spiffe://zt.local/us-east/edge/envoy'),
      element('spiffe://zt.local/us-east/client/Alice'),
      element('spiffe://zt.local/us-east/client/alice/extra'),
      `${element('spiffe://zt.local/us-east/client/alice')},URI=`,
    ];
    for (const header of cases) assert.equal(clientFromXfcc(header, 'zt.local'), undefined, JSON.stringify(header));
  });
});
