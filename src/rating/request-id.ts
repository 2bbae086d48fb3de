import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';

const ids = new WeakMap<IncomingMessage, string>();

/** What an incoming `x-request-id` may be; anything else is replaced, so logs never carry junk. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id: the edge's `x-request-id` (Envoy sets one on every request), or a
 * fresh UUID. It is echoed in the response header and in every error body and log line.
 */
export function requestIdMiddleware(req: Request, res: Response, next: NextFunction): void {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  ids.set(req, id);
  res.setHeader('x-request-id', id);
  next();
}

/** The request's id; one is made on the spot if the middleware did not run (it always should). */
export function requestIdOf(req: IncomingMessage): string {
  let id = ids.get(req);
  if (id === undefined) {
    id = randomUUID();
    ids.set(req, id);
  }
  return id;
}
