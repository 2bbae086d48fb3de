import express, { type Request, type Response } from 'express';
import type { AppError } from '../shared/errors.js';
import { ratingError } from './rating-errors.js';

/** The largest body the API reads (DESIGN.md: 413 over 16 KiB). */
const BODY_LIMIT_BYTES = 16 * 1024;

const parser = express.json({
  limit: BODY_LIMIT_BYTES,
  strict: true,
  // The media type is checked below, before any byte is read, so the parser takes whatever passed.
  type: () => true,
  // A compressed body would be inflated past the limit's meaning; clients send plain JSON.
  inflate: false,
});

/**
 * Reads the request body as JSON, called by a handler after the caller is authorised so that no
 * unauthorised body is ever parsed. Rejects with 415 `unsupported_media_type` unless the
 * content type is `application/json` (a missing one included), 413 `payload_too_large` over
 * 16 KiB, and 400 `invalid_json` for a body that does not parse. Resolves with `undefined` for a
 * JSON request with no body at all, which the schema then rejects.
 */
export function readJsonBody(req: Request, res: Response): Promise<unknown> {
  if (!isJson(req.headers['content-type'])) return Promise.reject(ratingError('unsupported_media_type'));
  return new Promise((resolve, reject) => {
    void parser(req, res, (err?: unknown) => {
      if (err === undefined) resolve(req.body as unknown);
      else reject(bodyError(err));
    });
  });
}

function isJson(contentType: string | undefined): boolean {
  return contentType?.split(';', 1)[0]?.trim().toLowerCase() === 'application/json';
}

/** Maps body-parser's errors (by their `type`/`status`) to reason codes; its text stays in `cause`. */
export function bodyError(err: unknown): AppError {
  const e = err as { type?: unknown; status?: unknown } | null;
  const type = typeof e?.type === 'string' ? e.type : undefined;
  const status = typeof e?.status === 'number' ? e.status : undefined;
  if (type === 'entity.parse.failed') return ratingError('invalid_json', { cause: err });
  if (status === 413) return ratingError('payload_too_large', { cause: err });
  if (status === 415) return ratingError('unsupported_media_type', { cause: err });
  if (status !== undefined && status >= 400 && status < 500) return ratingError('invalid_request', { cause: err });
  return ratingError('internal_error', { cause: err });
}
