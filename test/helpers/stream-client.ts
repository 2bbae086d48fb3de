/**
 * A rating-stream client for tests: a `ws` WebSocket over mTLS that reads every server message
 * through the server's own schema (serverMessageSchema), keeps them in order, and reports a refused
 * handshake as its HTTP status and body, or the close code and reason.
 */
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import { serverMessageSchema, type ServerMessage } from '../../src/rating/stream/stream-messages.js';

export interface StreamTarget {
  readonly host: string;
  readonly port: number;
  readonly servername: string;
}

export interface StreamOptions {
  readonly cert: string;
  readonly key: string;
  readonly ca: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly protocols?: readonly string[];
}

/** A refused handshake: the HTTP answer the client got instead of a 101. */
export interface Refusal {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  /** The body's `error`, when it is the API's error shape. */
  readonly error: string | undefined;
}

export interface Closed {
  readonly code: number;
  readonly reason: string;
}

type Message<T extends ServerMessage['type']> = Extract<ServerMessage, { type: T }>;

export class StreamClient {
  readonly messages: ServerMessage[] = [];
  readonly closed: Promise<Closed>;
  /** Set once the socket is open. */
  upgradeHeaders: IncomingMessage['headers'] | undefined;
  #waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    this.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') })));
    ws.on('message', (data: Buffer) => {
      this.messages.push(serverMessageSchema.parse(JSON.parse(data.toString('utf8'))));
      for (const w of this.#waiters.splice(0)) w();
    });
    ws.on('error', () => undefined);
  }

  /** Opens a stream at `path`; resolves with the client once open, or with the refusal. */
  static async open(at: StreamTarget, path: string, options: StreamOptions): Promise<StreamClient | Refusal> {
    // Leaves carry DNS SANs only: the server name is sent (and checked) whatever the address.
    const tls: ClientOptions & { servername: string } = { cert: options.cert, key: options.key, ca: options.ca, servername: at.servername };
    const ws = new WebSocket(`wss://${at.host}:${at.port}${path}`, [...(options.protocols ?? [])], {
      ...tls,
      headers: { ...options.headers },
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    const client = new StreamClient(ws);
    return new Promise((resolve, reject) => {
      ws.once('upgrade', (res: IncomingMessage) => {
        client.upgradeHeaders = res.headers;
      });
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          let error: string | undefined;
          try {
            error = (JSON.parse(body) as { error?: string }).error;
          } catch {
            error = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, error });
          ws.terminate();
        });
      });
      ws.once('error', (err) => reject(err));
    });
  }

  /** Opens, and fails the test with the refusal when there is one. */
  static async connect(at: StreamTarget, path: string, options: StreamOptions): Promise<StreamClient> {
    const c = await StreamClient.open(at, path, options);
    if (c instanceof StreamClient) return c;
    throw new Error(`the handshake was refused: ${c.status} ${c.body}`);
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** The first message of `type` after `from` (an index into `messages`), waiting up to `timeoutMs`. */
  async next<T extends ServerMessage['type']>(type: T, options: { from?: number; where?: (m: Message<T>) => boolean; timeoutMs?: number } = {}): Promise<Message<T>> {
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    for (;;) {
      const found = this.messages.slice(options.from ?? 0).find((m): m is Message<T> => m.type === type && (options.where?.(m as Message<T>) ?? true));
      if (found !== undefined) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} message within ${options.timeoutMs ?? 15_000} ms; got ${JSON.stringify(this.messages.slice(-5))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits for the close, up to `timeoutMs`. */
  async waitClosed(timeoutMs = 15_000): Promise<Closed> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the stream did not close within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.closed, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const done = once(this.ws, 'close');
    this.ws.close(1000);
    const t = setTimeout(() => this.ws.terminate(), 3000);
    await done;
    clearTimeout(t);
  }
}

/** Narrows an open result. */
export function isRefusal(x: StreamClient | Refusal): x is Refusal {
  return !(x instanceof StreamClient);
}
