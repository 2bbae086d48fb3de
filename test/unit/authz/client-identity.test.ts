import assert from 'node:assert/strict';
import { clientFromXfcc } from '../../../src/authz/client-identity.js';
import { formatXfccElement } from '../../../src/shared/xfcc.js';

const BY = 'spiffe://zt.local/us-east/edge/envoy';
const HASH = 'ab'.repeat(32);
const element = (uri: string | string[], hash = HASH): string => formatXfccElement({ by: BY, hash, subject: 'CN=x', uri });

describe('clientFromXfcc', () => {
  it('reads the client SPIFFE ID and certificate hash of the last element', () => {
    const client = clientFromXfcc(`${element('spiffe://zt.local/eu-central/client/bob', 'cd'.repeat(32))},${element('spiffe://zt.local/us-east/client/alice')}`, 'zt.local');
    assert.deepEqual(client, {
      id: { uri: 'spiffe://zt.local/us-east/client/alice', trustDomain: 'zt.local', region: 'us-east', kind: 'client', name: 'alice' },
      certSha256: HASH,
    });
  });

  it('leaves the certificate hash undefined when the element has none or it is not a SHA-256 in hex', () => {
    for (const hash of ['', 'ab', 'zz'.repeat(32)]) {
      assert.equal(clientFromXfcc(element('spiffe://zt.local/us-east/client/alice', hash), 'zt.local')?.certSha256, undefined, hash);
    }
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
