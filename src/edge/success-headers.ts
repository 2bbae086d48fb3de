/**
 * authz's `allowed_client_headers_on_success` (the x-ratelimit-* of an allow), kept per request:
 * Envoy's ext_authz adds them to whatever answers an allowed request, the upstream's answer and the
 * edge's own (a 504, a 408) alike.
 */
import type { IncomingMessage } from 'node:http';

const onSuccess = new WeakMap<IncomingMessage, Readonly<Record<string, string | string[]>>>();

/** Remembers the headers authz allowed for the client's response. */
export function addOnSuccess(req: IncomingMessage, headers: Readonly<Record<string, string | string[]>>): void {
  onSuccess.set(req, headers);
}

/** Those headers as authz sent them (several values stay several). */
export function successHeaders(req: IncomingMessage): Readonly<Record<string, string | string[]>> {
  return onSuccess.get(req) ?? {};
}

/** Those headers with one value each, for a response the edge writes itself. */
export function successHeadersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(successHeaders(req))) out[name] = [value].flat().join(', ');
  return out;
}
