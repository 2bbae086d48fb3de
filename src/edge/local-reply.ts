/**
 * The answers the edge writes itself instead of the upstream's, as Envoy 1.40 writes them with
 * envoy.yaml: the status, Envoy's own body (empty, or a short text) unless a `local_reply_config`
 * mapper rewrites it (local-reply-config.ts: the JSON `{"error", "request_id"}` shape), the
 * response flags and details for the access log, and whether the connection stays open. The reason
 * goes to the access log (`response_code_details`), never into the body.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { accessRecord } from './access-log.js';
import { SERVER_NAME } from './envoy-headers.js';
import type { LocalReplyConfig } from './local-reply-config.js';
import { successHeadersOf } from './success-headers.js';

/** One local reply. */
export interface LocalReply {
  readonly status: number;
  /** Envoy's %RESPONSE_CODE_DETAILS% for it. */
  readonly details: string;
  /** Envoy's %RESPONSE_FLAGS% it sets (NR, RL, UAEX, UF, UT, SI, DPE...). */
  readonly flags?: readonly string[];
  /** End the connection after it, as Envoy does when the request itself was unusable. */
  readonly close?: boolean;
  /** Envoy's own body when no mapper rewrites it: `text/plain`, or nothing when empty. */
  readonly defaultBody?: string;
  /** Headers the reply carries whatever its body (a filter's response_headers_to_add). */
  readonly headers?: Readonly<Record<string, string>>;
}

/** Writes local replies the way envoy.yaml's local_reply_config shapes them. */
export class LocalReplies {
  constructor(private readonly config: LocalReplyConfig) {}

  /** Answers `res` with `reply`; its request id (null before one is minted) goes into a JSON body. */
  send(res: ServerResponse, reply: LocalReply): void {
    const record = accessRecord(res.req);
    record.flags.push(...(reply.flags ?? []));
    record.details = reply.details;
    const { headers, body } = this.#render(reply, record.codecError ? undefined : record.requestId);
    res.statusCode = reply.status;
    // After an allow, Envoy adds authz's allowed_client_headers_on_success to any answer.
    for (const [name, value] of Object.entries({ ...successHeadersOf(res.req), ...headers })) res.setHeader(name, value);
    res.setHeader('server', SERVER_NAME);
    if (reply.close === true) res.setHeader('connection', 'close');
    res.end(body);
  }

  /**
   * Writes `reply` straight onto a socket whose request the HTTP parser refused before there was a
   * request object (a head too large or too slow, a malformed request line), and closes it: what
   * Envoy's HTTP/1 codec answers, with no request id. Returns the body bytes written.
   */
  sendRaw(socket: Socket, reply: LocalReply): number {
    const { headers, body } = this.#render(reply, undefined);
    const lines = [`HTTP/1.1 ${reply.status} ${STATUS_CODES[reply.status] ?? ''}`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    lines.push(`date: ${new Date().toUTCString()}`, `server: ${SERVER_NAME}`, 'connection: close');
    socket.end(`${lines.join('\r\n')}\r\n\r\n${body}`);
    return Buffer.byteLength(body);
  }

  #render(reply: LocalReply, requestId: string | undefined): { headers: Record<string, string>; body: string } {
    const rewrite = this.config.rewriteFor({ status: reply.status, flags: reply.flags ?? [] });
    const body = rewrite?.body(requestId) ?? reply.defaultBody ?? '';
    const headers: Record<string, string> = { ...reply.headers, ...rewrite?.headers };
    headers['content-length'] = String(Buffer.byteLength(body));
    if (rewrite !== undefined) headers['content-type'] = 'application/json';
    else if (body !== '') headers['content-type'] = 'text/plain';
    return { headers, body };
  }
}
