import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, type RequestOptions } from 'node:https';
import type { Duplex } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EDGE_KINDS, ENVOY_YAML, type ClientTls, type Reply } from '../../helpers/edge-under-test.js';
import { denyBody, useEdgeFixture } from './given-edge.js';

/** envoy/envoy.yaml with a backstop of one token that does not refill while the suite runs. */
const ONE_TOKEN_YAML = join(tmpdir(), `zt-envoy-one-token-${process.pid}.yaml`);

const RATINGS = '/v1/tenants/acme/items/widget/ratings';

/** A keep-alive agent of one connection at a time that counts the connections it opens. */
function countingAgent(tls: ClientTls): { agent: Agent; opened: () => number } {
  let opened = 0;
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...tls });
  const create = agent.createConnection.bind(agent);
  agent.createConnection = (options: RequestOptions, callback?: (err: Error | null, stream: Duplex) => void) => {
    opened++;
    return create(options, callback);
  };
  return { agent, opened: () => opened };
}

/**
 * What the backstop's 429 does to the client's HTTP/1.1 connection, through both edges. Envoy
 * closes an HTTP/1.1 connection after a local reply sent before the request is complete; the
 * small-body buffer before the backstop (envoy.yaml) reads a body whose content-length has at most
 * 4 digits first, so its 429 keeps the connection, and a shed client does not redo its mTLS
 * handshake. A chunked or larger body is answered before it is read, and the connection closed.
 */
for (const kind of EDGE_KINDS) {
  describe(`${kind} edge: the backstop's 429 and the client's connection`, () => {
    before(() => {
      const yaml = readFileSync(ENVOY_YAML, 'utf8').replace(/max_tokens: \d+/, 'max_tokens: 1').replace(/fill_interval: 0\.05s/, 'fill_interval: 3600s');
      assert.match(yaml, /max_tokens: 1\n/);
      assert.match(yaml, /fill_interval: 3600s/);
      writeFileSync(ONE_TOKEN_YAML, yaml);
    });
    const fixture = useEdgeFixture(kind, { envoyConfig: ONE_TOKEN_YAML });

    function assertShed(res: Reply): void {
      assert.equal(res.status, 429, res.body);
      assert.equal(denyBody(res).error, 'rate_limited');
      assert.equal(res.headers['retry-after'], '1');
    }

    let alice: ClientTls;
    before(async () => {
      alice = await fixture().pki.tls('client-alice');
    });

    const post = (agent: Agent, body: string, headers: Record<string, string>): Promise<Reply> =>
      fixture().edge.send(alice, { method: 'POST', path: RATINGS, headers: { 'content-type': 'application/json', ...headers }, body, agent });

    it('answers 429 to small declared bodies and bodiless requests on the one connection the client opened', async () => {
      const { agent, opened } = countingAgent(alice);
      try {
        const first = await post(agent, '{"score":5}', { 'content-length': '11' });
        assert.equal(first.status, 201, 'the one token lets the first request through');
        for (const body of ['{"score":4}', '{"score":3,"comment":"' + 'x'.repeat(9000) + '"}']) {
          const res = await post(agent, body, { 'content-length': String(Buffer.byteLength(body)) });
          assertShed(res);
          assert.notEqual(res.headers.connection, 'close', `a ${body.length}-byte body keeps the connection`);
        }
        const get = await fixture().edge.send(alice, { path: RATINGS, agent });
        assertShed(get);
        assert.notEqual(get.headers.connection, 'close');
        assert.equal(opened(), 1, 'every answer came on the first connection');
        assert.equal(fixture().rating.received.length, 1, 'only the admitted request went upstream');
      } finally {
        agent.destroy();
      }
    });

    it('answers 429 to a chunked body or one of 10,000 bytes or more before reading it, and closes the connection', async () => {
      const { agent, opened } = countingAgent(alice);
      try {
        const chunked = await post(agent, '{"score":2}', { 'transfer-encoding': 'chunked' });
        assertShed(chunked);
        assert.equal(chunked.headers.connection, 'close');
        const large = '{"score":2,"comment":"' + 'y'.repeat(10_000) + '"}';
        const big = await post(agent, large, { 'content-length': String(Buffer.byteLength(large)) });
        assertShed(big);
        assert.equal(big.headers.connection, 'close');
        assert.equal(opened(), 2, 'each shed request with an unread body cost its connection');
      } finally {
        agent.destroy();
      }
    });
  });
}
