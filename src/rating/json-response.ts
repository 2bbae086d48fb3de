import type { Request, Response } from 'express';

/** What Express's res.json sets (mime's `application/json` with its charset), computed once. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Answers `status` with `body` as JSON, byte for byte what `res.status(status).json(body)` sends
 * here (the app has no JSON replacer, spaces or escaping, and no ETag), without Express's
 * per-response work: the settings lookups, the media-type lookup and charset rewrite of a header
 * that is always the same, and the freshness check. That check can only matter for a conditional
 * GET or HEAD (`If-None-Match: *` makes Express answer 304), so such a request still goes through
 * res.json, which keeps its answer exactly as it was.
 */
export function sendJson(req: Request, res: Response, status: number, body: unknown): void {
  const conditional = req.headers['if-none-match'] !== undefined || req.headers['if-modified-since'] !== undefined;
  if (conditional && (req.method === 'GET' || req.method === 'HEAD')) {
    res.status(status).json(body);
    return;
  }
  const text = JSON.stringify(body);
  res.statusCode = status;
  // The names as Express writes them, so the head on the wire is the same bytes.
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', String(Buffer.byteLength(text)));
  if (req.method === 'HEAD') res.end();
  else res.end(text, 'utf8');
}
