import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import express, { type Request, type Response } from 'express';
import { readJsonBody } from '../../../src/rating/json-body.js';
import { AppError } from '../../../src/shared/errors.js';

/** A request's body stream: a Readable alone (a Duplex would look like a response to body-parser). */
function readable(): Readable {
  return new Readable({ read: () => undefined });
}

/** A request as Node's parser hands it on: headers, then the body's bytes. */
function requestOf(body: Buffer, headers: Record<string, string>): Request {
  const stream = readable();
  stream.push(body);
  stream.push(null);
  // complete and socket as an IncomingMessage has them: body-parser reads only an unfinished request.
  return Object.assign(stream, { headers: { 'content-length': String(body.length), ...headers }, complete: false, socket: { readable: true } }) as unknown as Request;
}

/** What body-parser itself makes of the same bytes: the value, or its error's type and message. */
function bodyParserReads(body: Buffer): Promise<{ value: unknown } | { type: unknown; message: string }> {
  const req = requestOf(body, { 'content-type': 'application/json' });
  return new Promise((resolve) => {
    void express.json({ strict: true, type: () => true, inflate: false, limit: 16 * 1024 })(req, {} as Response, (err?: unknown) => {
      resolve(err === undefined ? { value: (req as { body?: unknown }).body } : { type: (err as { type?: unknown }).type, message: (err as Error).message });
    });
  });
}

async function readsDirectly(body: Buffer): Promise<{ value: unknown } | { type: unknown; message: string }> {
  try {
    return { value: await readJsonBody(requestOf(body, { 'content-type': 'application/json' }), {} as Response) };
  } catch (err) {
    assert.ok(err instanceof AppError);
    assert.equal(err.code, 'invalid_json');
    return { type: 'entity.parse.failed', message: (err.cause as Error).message };
  }
}

describe('reading a plain JSON body', () => {
  const bodies = ['{"score":5}', ' [1, 2]', '{"score":3,"comment":"ünï \\"q\\""}', '"score"', ' 5', 'null', '{"score": 5,', 'nul', '   ', '\t\n', '\ufeff{"score":4}', '\ufeff"x"', '{"a":1} x', '{"__proto__": {"x": 1}}'];
  for (const text of bodies) {
    it(`reads ${JSON.stringify(text)} exactly as body-parser does, value or error message`, async () => {
      const bytes = Buffer.from(text, 'utf8');
      assert.deepEqual(await readsDirectly(bytes), await bodyParserReads(bytes));
    });
  }

  it('decodes bytes that are not UTF-8 as body-parser does', async () => {
    const bytes = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xc3, 0x22, 0x7d]);
    assert.deepEqual(await readsDirectly(bytes), await bodyParserReads(bytes));
  });

  it('reads a body that arrives in several chunks', async () => {
    const stream = readable();
    const req = Object.assign(stream, { headers: { 'content-type': 'application/json', 'content-length': '25' }, socket: { readable: true } }) as unknown as Request;
    const read = readJsonBody(req, {} as Response);
    stream.push('{"score":5,');
    stream.push('"comment":"x"}');
    stream.push(null);
    assert.deepEqual(await read, { score: 5, comment: 'x' });
  });

  it('rejects a request that ends early with 400 invalid_request, as body-parser does', async () => {
    const stream = readable();
    const req = Object.assign(stream, { headers: { 'content-type': 'application/json', 'content-length': '11' }, socket: { readable: true } }) as unknown as Request;
    const read = readJsonBody(req, {} as Response);
    stream.push('{"sc');
    stream.emit('aborted');
    await assert.rejects(read, (err: unknown) => err instanceof AppError && err.code === 'invalid_request' && err.status === 400 && (err.cause as Error).message === 'request aborted');
  });
});
