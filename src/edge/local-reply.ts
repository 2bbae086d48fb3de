/**
 * The answers the edge writes itself instead of the upstream's, byte for byte as Envoy 1.40 writes
 * them with envoy.yaml: which status, body, content type and whether the connection stays open.
 * The reason goes to the access log (`response_code_details`), never into the body.
 */
import type { ServerResponse } from 'node:http';
import { accessRecord } from './access-log.js';
import { SERVER_NAME } from './envoy-headers.js';

/**
 * A local reply with an empty body, such as the router's 404 for a path no route matches.
 * `close` ends the connection after it, as Envoy does when the request itself was unusable
 * (a path it could not normalise); a 404 leaves the connection open for the next request.
 */
export function emptyReply(res: ServerResponse, status: number, details: string, options: { close: boolean }): void {
  accessRecord(res.req).details = details;
  res.statusCode = status;
  res.setHeader('server', SERVER_NAME);
  res.setHeader('content-length', 0);
  if (options.close) res.setHeader('connection', 'close');
  res.end();
}

/**
 * The HTTP/1 codec's refusal of a request it cannot accept (here: a header name with an underscore,
 * `headers_with_underscores_action: REJECT_REQUEST`): 400 `Bad Request` in plain text, the
 * connection closed, and flag `DPE`. Envoy refuses before it has a request, so the access log has
 * no method, path or request id for it.
 */
export function codecErrorReply(res: ServerResponse, details: string): void {
  const record = accessRecord(res.req);
  record.flags.push('DPE');
  record.details = details;
  record.codecError = true;
  const body = 'Bad Request';
  res.statusCode = 400;
  res.setHeader('server', SERVER_NAME);
  res.setHeader('content-type', 'text/plain');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.setHeader('connection', 'close');
  res.end(body);
}

/**
 * The JSON body envoy.yaml's `local_reply_config` gives the edge's own denials (authz unavailable):
 * `{"error":...,"request_id":...}` and a newline, as Envoy's `json_format` prints it, with
 * `content-type: application/json` and no charset.
 */
export function jsonReply(res: ServerResponse, status: number, error: string, requestId: string | undefined, headers: Readonly<Record<string, string>> = {}): void {
  const body = `${JSON.stringify({ error, request_id: requestId ?? null })}\n`;
  res.statusCode = status;
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('server', SERVER_NAME);
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
