/**
 * The subscribers of `npm run bench:stream`, in a worker thread of their own so that reading
 * thousands of updates a second never delays the writer (the main thread) or its timestamps. A
 * worker opens its share of the streams, records when each update arrives (absolute time, comparable
 * across threads), and on `collect` turns the arrivals into delivery latencies against the writes'
 * 201 times the main thread sends.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { WebSocket, type ClientOptions } from 'ws';
import { serverMessageSchema } from '../src/rating/stream/stream-messages.js';

export interface SubscribersInput {
  readonly port: number;
  readonly tls: { readonly cert: string; readonly key: string; readonly ca: string };
  readonly tenant: string;
  /** One token per subscriber of this worker. */
  readonly tokens: readonly string[];
  /** The item of each subscriber of this worker. */
  readonly items: readonly string[];
}

/** What the main thread asks. */
export type ToWorker = { readonly cmd: 'collect'; readonly writes: readonly (readonly [key: string, ok: number, sent: number])[] } | { readonly cmd: 'close' };

/** What a worker says. */
export type FromWorker =
  | { readonly kind: 'opened'; readonly count: number; readonly retries: number }
  | { readonly kind: 'progress'; readonly open: number }
  | { readonly kind: 'collected'; readonly fromOk: Float64Array; readonly fromSend: Float64Array; readonly beforeOk: number; readonly unmatched: number; readonly closes: number }
  | { readonly kind: 'failed'; readonly error: string }
  | { readonly kind: 'closed' };

/** How an update message begins (stream-messages.ts; JSON.stringify keeps the key order). */
const UPDATE_PREFIX = /^\{"type":"update","item":"([^"]*)","seq":(\d+),/;

const input = workerData as SubscribersInput;
if (parentPort === null) throw new Error('stream-subscribers runs as a worker thread');
const port = parentPort;
const post = (m: FromWorker): void => port.postMessage(m);
const now = (): number => performance.timeOrigin + performance.now();

const sockets: WebSocket[] = [];
/** Arrival times by `item:seq`. */
const arrivals = new Map<string, number[]>();
let closes = 0;
let retries = 0;

async function openOne(i: number): Promise<void> {
  const item = input.items[i] ?? '';
  const options: ClientOptions & { servername: string } = { ...input.tls, servername: 'localhost', perMessageDeflate: false, headers: { authorization: `Bearer ${input.tokens[i] ?? ''}` }, handshakeTimeout: 30_000 };
  for (let attempt = 1; ; attempt++) {
    const ws = new WebSocket(`wss://127.0.0.1:${input.port}/v1/tenants/${input.tenant}/items/${item}/ratings/stream`, options);
    const refusal = await new Promise<string | undefined>((resolve, reject) => {
      ws.once('message', (data: Buffer) => {
        const first = serverMessageSchema.parse(JSON.parse(data.toString('utf8')));
        if (first.type === 'snapshot') resolve(undefined);
        else reject(new Error(`the first message is a ${first.type}, not the snapshot`));
      });
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString('utf8')));
        res.on('end', () => resolve(`${res.statusCode ?? 0} ${body}`));
      });
      ws.once('error', reject);
    });
    if (refusal === undefined) {
      // Only the seq of an update is read (its text starts with type, item, seq), not the whole
      // message through its schema: the subscribers must cost as little as a real client's.
      ws.on('message', (data: Buffer) => {
        const at = now();
        const m = UPDATE_PREFIX.exec(data.toString('latin1', 0, 160));
        if (m === null) return;
        const key = `${m[1] ?? ''}:${m[2] ?? ''}`;
        const list = arrivals.get(key);
        if (list === undefined) arrivals.set(key, [at]);
        else list.push(at);
      });
      ws.on('close', () => (closes += 1));
      sockets.push(ws);
      return;
    }
    ws.terminate();
    // A client retries a refused handshake (503 when authz was slow at the start); counted.
    retries += 1;
    if (attempt >= 5) throw new Error(`refused ${attempt} times, last: ${refusal}`);
    await new Promise((r) => setTimeout(r, 100 * attempt));
  }
}

async function openAll(): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < input.tokens.length) {
      await openOne(next++);
      if (sockets.length % 100 === 0) post({ kind: 'progress', open: sockets.length });
    }
  };
  await Promise.all(Array.from({ length: Math.min(10, input.tokens.length) }, lane));
}

function collect(writes: readonly (readonly [string, number, number])[]): void {
  const fromOk: number[] = [];
  const fromSend: number[] = [];
  let beforeOk = 0;
  let matched = 0;
  for (const [key, ok, sent] of writes) {
    for (const at of arrivals.get(key) ?? []) {
      fromOk.push(at - ok);
      fromSend.push(at - sent);
      if (at < ok) beforeOk += 1;
      matched += 1;
    }
  }
  let total = 0;
  for (const list of arrivals.values()) total += list.length;
  const a = Float64Array.from(fromOk);
  const b = Float64Array.from(fromSend);
  port.postMessage({ kind: 'collected', fromOk: a, fromSend: b, beforeOk, unmatched: total - matched, closes } satisfies FromWorker, [a.buffer, b.buffer]);
  arrivals.clear();
}

port.on('message', (m: ToWorker) => {
  if (m.cmd === 'collect') {
    collect(m.writes);
    return;
  }
  let open = sockets.length;
  const done = (): void => {
    open -= 1;
    if (open <= 0) post({ kind: 'closed' });
  };
  if (open === 0) post({ kind: 'closed' });
  for (const ws of sockets) {
    if (ws.readyState === WebSocket.CLOSED) done();
    else {
      ws.once('close', done);
      ws.close(1000);
    }
  }
});

openAll().then(
  () => post({ kind: 'opened', count: sockets.length, retries }),
  (err: unknown) => post({ kind: 'failed', error: err instanceof Error ? err.message : String(err) }),
);
