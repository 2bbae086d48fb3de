import assert from 'node:assert/strict';
import { formatXfccElement, parseXfcc, XfccParseError, type XfccErrorCode } from '../../../src/shared/xfcc.js';

const HASH = '468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688';

function assertXfccError(header: string, code: XfccErrorCode): void {
  assert.throws(
    () => parseXfcc(header),
    (err: unknown) => err instanceof XfccParseError && err.code === code,
    `expected ${code} for ${JSON.stringify(header)}`,
  );
}

describe('xfcc', () => {
  describe('parseXfcc', () => {
    // The examples are the ones in Envoy's header documentation ("x-forwarded-client-cert").
    it('parses the Envoy docs example with a quoted subject', () => {
      const header = `By=http://frontend.lyft.com;Hash=${HASH};Subject="/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client";URI=http://testclient.lyft.com`;
      assert.deepEqual(parseXfcc(header), [
        {
          by: 'http://frontend.lyft.com',
          hash: HASH,
          subject: '/C=US/ST=CA/L=San Francisco/OU=Lyft/CN=Test Client',
          uri: ['http://testclient.lyft.com'],
          dns: [],
        },
      ]);
    });

    it('parses the Envoy docs example with two elements, in order', () => {
      const header =
        'By=http://frontend.lyft.com;Hash=468ed33be74eee6556d90c0149c1309e9ba61d6425303443c0748a02dd8de688;URI=http://testclient.lyft.com,' +
        'By=http://backend.lyft.com;Hash=9ba61d6425303443c0748a02dd8de688468ed33be74eee6556d90c0149c1309e;URI=http://frontend.lyft.com';
      const els = parseXfcc(header);
      assert.equal(els.length, 2);
      assert.deepEqual(els[0]?.uri, ['http://testclient.lyft.com']);
      assert.equal(els[1]?.by, 'http://backend.lyft.com');
      assert.deepEqual(els[1]?.uri, ['http://frontend.lyft.com']);
    });

    it('parses the Envoy docs example with an empty subject and several DNS SANs', () => {
      const header = `By=http://frontend.lyft.com;Hash=${HASH};Subject="";URI=http://testclient.lyft.com;DNS=lyft.com;DNS=www.lyft.com`;
      const [el] = parseXfcc(header);
      assert.equal(el?.subject, '');
      assert.deepEqual(el?.dns, ['lyft.com', 'www.lyft.com']);
    });

    it('keeps a URL-encoded certificate value as sent', () => {
      const cert = '-----BEGIN%20CERTIFICATE-----%0AMIIB%2Fabc%3D%0A-----END%20CERTIFICATE-----%0A';
      const [el] = parseXfcc(`By=spiffe://zt.local/us-east/edge/envoy;Hash=${HASH};Cert="${cert}";Chain="${cert}"`);
      assert.equal(el?.cert, cert);
      assert.equal(el?.chain, cert);
    });

    it('treats keys case-insensitively', () => {
      const [el] = parseXfcc(`by=a;HASH=b;subject="c";Uri=d;uRi=e;dns=f`);
      assert.deepEqual(el, { by: 'a', hash: 'b', subject: 'c', uri: ['d', 'e'], dns: ['f'] });
    });

    it('reads , ; = and escaped quotes inside a quoted value', () => {
      const [el] = parseXfcc(String.raw`Subject="CN=a,O=b;c=\"d\"";URI=spiffe://zt.local/us-east/client/alice`);
      assert.equal(el?.subject, 'CN=a,O=b;c="d"');
      assert.deepEqual(el?.uri, ['spiffe://zt.local/us-east/client/alice']);
    });

    it('keeps an RFC 2253 backslash escape that Envoy copies verbatim', () => {
      const [el] = parseXfcc(String.raw`Subject="CN=Doe\, John,O=x";URI=`);
      assert.equal(el?.subject, String.raw`CN=Doe\, John,O=x`);
      assert.deepEqual(el?.uri, ['']);
    });

    it('allows whitespace around the comma between elements', () => {
      const els = parseXfcc('URI=a ,  URI=b');
      assert.deepEqual(
        els.map((e) => e.uri),
        [['a '], ['b']],
      );
      assert.deepEqual(parseXfcc('Subject="x" , URI=b')[0]?.subject, 'x');
    });

    it('refuses an unterminated quote', () => {
      assertXfccError('By=a;Subject="CN=x;URI=b', 'unterminated_quote');
      assertXfccError(String.raw`Subject="abc\"`, 'unterminated_quote');
    });

    it('refuses a pair without =', () => {
      assertXfccError('By=a;Hash', 'missing_equals');
      assertXfccError('URI', 'missing_equals');
      assertXfccError('By=a;', 'missing_equals');
      assertXfccError('By=a;Hash,URI=b', 'missing_equals');
    });

    it('refuses an empty element or an empty header', () => {
      assertXfccError('', 'empty_element');
      assertXfccError('URI=a,,URI=b', 'empty_element');
      assertXfccError('URI=a,', 'empty_element');
      assertXfccError(',URI=a', 'empty_element');
      assertXfccError('   ', 'empty_element');
    });

    it('refuses unknown, empty, malformed and repeated single-valued keys', () => {
      assertXfccError('Foo=1', 'unknown_key');
      assertXfccError('=x', 'bad_key');
      assertXfccError('U RI=x', 'bad_key');
      assertXfccError('By=a;By=b', 'duplicate_key');
      assertXfccError('Subject="a";subject="b"', 'duplicate_key');
    });

    it('refuses a quote inside a bare value or text after a closing quote', () => {
      assertXfccError('URI=ab"c', 'unexpected_quote');
      assertXfccError('Subject="a"b;URI=x', 'unexpected_quote');
    });
  });

  describe('formatXfccElement', () => {
    it('emits what Envoy SANITIZE_SET emits with subject and uri details', () => {
      const header = formatXfccElement({
        by: 'spiffe://zt.local/us-east/edge/envoy',
        hash: HASH,
        subject: 'CN=alice,O=zt.local',
        uri: 'spiffe://zt.local/us-east/client/alice',
      });
      assert.equal(
        header,
        `By=spiffe://zt.local/us-east/edge/envoy;Hash=${HASH};Subject="CN=alice,O=zt.local";URI=spiffe://zt.local/us-east/client/alice`,
      );
    });

    it('always quotes Subject, even when it is empty, and emits URI= with no URI SAN', () => {
      assert.equal(formatXfccElement({ by: 'b', hash: 'h', subject: '', uri: [] }), 'By=b;Hash=h;Subject="";URI=');
    });

    it('emits one URI= per URI SAN and the DNS SANs last', () => {
      assert.equal(
        formatXfccElement({ by: 'b', hash: 'h', subject: 's', uri: ['u1', 'u2'], dns: ['a.example', 'b.example'] }),
        'By=b;Hash=h;Subject="s";URI=u1;URI=u2;DNS=a.example;DNS=b.example',
      );
    });

    it('quotes a bare value only when it holds a special character', () => {
      assert.equal(
        formatXfccElement({ by: 'x=1', hash: 'h', subject: 's', uri: 'a,b' }),
        'By="x=1";Hash=h;Subject="s";URI="a,b"',
      );
    });

    it('leaves an RFC 2253 escape in the subject as Envoy does', () => {
      assert.equal(
        formatXfccElement({ by: 'b', hash: 'h', subject: String.raw`CN=Doe\, John`, uri: 'u' }),
        String.raw`By=b;Hash=h;Subject="CN=Doe\, John";URI=u`,
      );
    });
  });

  describe('round trips', () => {
    it('parses back exactly what it formats, for awkward values', () => {
      const awkward = ['', 'plain', 'a,b', 'a;b', 'a=b', '"', '\\', 'x\\', '\\"', 'a\\\\b', ' lead', 'trail ', 'CN=Doe\\, John', 'é ü'];
      for (const subject of awkward) {
        for (const uri of awkward) {
          const input = { by: 'spiffe://zt.local/us-east/edge/envoy', hash: HASH, subject, uri: [uri], dns: [uri] };
          const [el, ...rest] = parseXfcc(formatXfccElement(input));
          assert.equal(rest.length, 0);
          assert.deepEqual(el, input, `round trip of subject=${JSON.stringify(subject)} uri=${JSON.stringify(uri)}`);
        }
      }
    });

    it('appends an element the way APPEND_FORWARD does and reads the edge element last', () => {
      const first = formatXfccElement({ by: 'spiffe://x/a/edge/e', hash: 'h1', subject: 'CN=a', uri: 'spiffe://x/a/client/c' });
      const second = formatXfccElement({ by: 'spiffe://x/b/edge/e', hash: 'h2', subject: 'CN=b', uri: 'spiffe://x/b/client/d' });
      const els = parseXfcc(`${first},${second}`);
      assert.deepEqual(els.at(-1)?.uri, ['spiffe://x/b/client/d']);
      assert.equal(els.at(0)?.hash, 'h1');
    });
  });
});
