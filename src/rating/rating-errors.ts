import { AppError } from '../shared/errors.js';

/**
 * The reason codes of the rating API. The first four are the policy service's codes (DESIGN.md),
 * reused here because the rating API re-checks the same rules as defence in depth; the others
 * describe what is wrong with a request the policy let through.
 */
const RATING_REASONS = {
  untrusted_peer: { status: 403, message: 'only an edge may call the rating API' },
  missing_identity: { status: 401, message: 'the request carries no usable caller identity' },
  tenant_mismatch: { status: 403, message: 'the caller may not act in this tenant' },
  forbidden_role: { status: 403, message: 'the caller has no role that permits this' },
  invalid_request: { status: 400, message: 'the request is not valid' },
  invalid_json: { status: 400, message: 'the body is not valid JSON' },
  payload_too_large: { status: 413, message: 'the body is larger than 16 KiB' },
  unsupported_media_type: { status: 415, message: 'the body must be application/json' },
  not_found: { status: 404, message: 'no such resource' },
  method_not_allowed: { status: 405, message: 'method not allowed on this resource' },
  upgrade_required: { status: 426, message: 'the stream is a WebSocket: send an Upgrade: websocket handshake' },
  too_many_streams: { status: 429, message: 'the subject holds as many streams as it may' },
  unavailable: { status: 503, message: 'the rating store is unavailable' },
  internal_error: { status: 500, message: 'internal error' },
} as const satisfies Record<string, { status: number; message: string }>;

type RatingReason = keyof typeof RATING_REASONS;

/** One invalid input, named by its JSON path (`score`) or path parameter (`tenant`). */
export interface FieldError {
  readonly path: string;
  readonly message: string;
}

/** An AppError with one of the rating API's reason codes and its fixed status and message. */
export function ratingError(
  code: RatingReason,
  options: { cause?: unknown; headers?: Record<string, string>; fields?: readonly FieldError[] } = {},
): AppError {
  const { status, message } = RATING_REASONS[code];
  return new AppError(code, status, message, {
    ...(options.cause === undefined ? {} : { cause: options.cause }),
    ...(options.headers === undefined ? {} : { headers: options.headers }),
    ...(options.fields === undefined ? {} : { details: { fields: options.fields } }),
  });
}
