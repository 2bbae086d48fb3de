import type { ErrorRequestHandler, RequestHandler } from 'express';
import { AppError, errorMessage } from '../shared/errors.js';
import { sendError } from '../shared/http/error-body.js';
import { requestIdFrom } from '../shared/http/request-id.js';
import type { Logger } from '../shared/logger.js';
import { bodyError } from './json-body.js';
import { ratingError, type FieldError } from './rating-errors.js';

/** 404 `not_found` for any path the API does not have; registered after every route. */
export const notFound: RequestHandler = (_req, _res, next) => {
  next(ratingError('not_found'));
};

/** 405 `method_not_allowed` with the `Allow` header, for a known path asked with another method. */
export function methodNotAllowed(allow: readonly string[]): RequestHandler {
  const header = allow.join(', ');
  return (_req, _res, next) => {
    next(ratingError('method_not_allowed', { headers: { allow: header } }));
  };
}

/**
 * The one error middleware, registered last: the app's one error exit. It renders
 * `{error, request_id}` (plus `fields` for invalid input) with sendError and logs the cause; a
 * client never sees library text or a stack. Anything that is not an AppError is a 500
 * `internal_error`, except the HTTP errors Express's own layers raise (a path that does not
 * percent-decode, a body-parser failure), which keep their 4xx meaning.
 */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    const appError = toAppError(err);
    const requestId = requestIdFrom(req.headers['x-request-id']);
    const fields = fieldsOf(appError.details);
    const logFields = { request_id: requestId, code: appError.code, status: appError.status, method: req.method, path: req.path };
    if (appError.status >= 500) {
      logger.error({ ...logFields, err: appError.cause ?? appError }, 'request_failed');
    } else {
      logger.info({ ...logFields, ...(appError.cause === undefined ? {} : { cause: errorMessage(appError.cause) }) }, 'request_rejected');
    }
    if (res.headersSent) {
      // Too late for a status line; cutting the connection is the only honest signal left.
      req.socket.destroy();
      return;
    }
    sendError(res, appError.status, appError.code, requestId, appError.headers, fields ? { fields } : {});
  };
}

function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  const status = (err as { status?: unknown } | null)?.status;
  if (typeof status === 'number' && status >= 400 && status < 500) return bodyError(err);
  return ratingError('internal_error', { cause: err });
}

function fieldsOf(details: unknown): readonly FieldError[] | undefined {
  if (typeof details !== 'object' || details === null || !('fields' in details)) return undefined;
  const fields = details.fields;
  return Array.isArray(fields) ? (fields as FieldError[]) : undefined;
}
