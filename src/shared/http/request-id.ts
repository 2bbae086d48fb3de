import { randomUUID } from 'node:crypto';

/** What an incoming `x-request-id` may be; anything else is replaced, so logs never carry junk. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The one request-id rule of every service: the edge's `x-request-id` (Envoy and the dev edge mint
 * one for every request) when it has a sane shape, else a fresh UUID. It goes back in the response
 * header, in every error body and in every log line of the request.
 */
export function requestIdFrom(header: string | string[] | undefined): string {
  return typeof header === 'string' && REQUEST_ID.test(header) ? header : randomUUID();
}
