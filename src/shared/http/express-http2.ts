import type { IncomingMessage, ServerResponse } from 'node:http';
import { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Express } from 'express';

/** A request handler for a listener that speaks HTTP/2 and HTTP/1.1 on the same port. */
export type DualProtocolHandler = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

/**
 * One Express app for both protocols of an HTTP/2 listener that also takes HTTP/1.1 (ALPN `h2` and
 * `http/1.1`). Express gives every request its own prototype chain (`app.request`, `app.response`),
 * which ends in http.IncomingMessage and http.ServerResponse; an HTTP/2 request is an
 * Http2ServerRequest, whose `headers`, `method`, `url`... are getters of its own prototype, so it
 * cannot take that chain. `build` is called twice: once for HTTP/1.1 as it is, and once for
 * HTTP/2 with Express's request and response helpers rebased on Http2ServerRequest and
 * Http2ServerResponse (copied, so the first app and every other Express app keep theirs). Each
 * request goes to the app of its protocol; both apps share whatever `build` closes over.
 */
export function expressOverHttp2(build: () => Express): DualProtocolHandler {
  const h1 = build();
  const h2 = build();
  h2.request = rebased(h2.request, Http2ServerRequest.prototype);
  h2.response = rebased(h2.response, Http2ServerResponse.prototype);
  return (req, res) => {
    if (req instanceof Http2ServerRequest) h2(req as never, res as never);
    else h1(req, res as ServerResponse);
  };
}

/**
 * `appProto` (the app's own object: `app`) over a copy of Express's helpers (its prototype) over
 * `base`, in place of Express's helpers over Node's HTTP/1 prototypes.
 */
function rebased<T extends object>(appProto: T, base: object): T {
  const helpers: unknown = Object.getPrototypeOf(appProto);
  const copy: object = Object.create(base, Object.getOwnPropertyDescriptors(helpers)) as object;
  return Object.create(copy, Object.getOwnPropertyDescriptors(appProto)) as T;
}
