import { request } from 'node:https';
import type { Pem } from './rating-harness.js';

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/**
 * One HTTPS request with exactly the headers given, for what supertest would "helpfully" change
 * (it adds a content type to every body). Rejects when the TLS handshake or the connection fails.
 */
export function rawRequest(
  port: number,
  pem: Partial<Pem> & { ca: string },
  req: { method: string; path: string; headers?: Record<string, string>; body?: Buffer | string },
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const r = request(
      { host: '127.0.0.1', port, method: req.method, path: req.path, headers: req.headers ?? {}, ca: pem.ca, cert: pem.cert, key: pem.key, servername: 'rating-api', agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    r.end(req.body);
  });
}
