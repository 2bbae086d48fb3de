import type { ServerResponse } from 'node:http';

/**
 * Writes the one error shape every service and edge answers with: `{"error": <code>,
 * "request_id": <id>}` (plus `extra` fields such as `fields`), as JSON, with `x-request-id`, a
 * content length and `headers`. Used by each service's single error exit; nothing else renders an
 * error body.
 */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  requestId: string,
  headers: Readonly<Record<string, string>> = {},
  extra: Readonly<Record<string, unknown>> = {},
): void {
  const body = JSON.stringify({ error: code, request_id: requestId, ...extra });
  res.writeHead(status, { ...headers, 'x-request-id': requestId, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}
