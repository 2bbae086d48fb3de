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
 *
 * The request every edge forwards for a write (`content-type: application/json` as such, a
 * content length of 1 byte to 16 KiB, no content or transfer encoding) is read directly: Node's
 * parser has already framed it by its length, so all that is left is to gather the bytes and
 * parse them as body-parser would (readPlainBody). Anything else (a charset parameter, chunked,
 * encoded, empty or oversized) goes through body-parser, which answers it as it always has.
 */
export function readJsonBody(req: Request, res: Response): Promise<unknown> {
  if (!isJson(req.headers['content-type'])) return Promise.reject(ratingError('unsupported_media_type'));
  const length = plainLength(req);
  if (length !== undefined) return readPlainBody(req, length);
  return new Promise((resolve, reject) => {
    void parser(req, res, (err?: unknown) => {
      if (err === undefined) resolve(req.body as unknown);
      else reject(bodyError(err));
    });
  });
}

/**
 * The body's length when the request is the plain case readJsonBody reads itself, else undefined.
 * A request whose connection can no longer be read is left to body-parser, which does not read it.
 */
function plainLength(req: Request): number | undefined {
  const headers = req.headers;
  if (req.socket?.readable !== true) return undefined;
  if (headers['content-type'] !== 'application/json' || headers['content-encoding'] !== undefined || headers['transfer-encoding'] !== undefined) return undefined;
  const text = headers['content-length'];
  if (text === undefined || !/^[0-9]{1,5}$/.test(text)) return undefined;
  const length = Number(text);
  return length >= 1 && length <= BODY_LIMIT_BYTES ? length : undefined;
}

/** Gathers `length` bytes (Node's parser delivers exactly that many, or the request aborts) and parses them. */
function readPlainBody(req: Request, length: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      req.off('data', onData).off('end', onEnd).off('aborted', onAborted).off('error', onError);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      done();
      let text = (chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, length)).toString('utf8');
      // body-parser decodes with iconv-lite, which drops a byte order mark.
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      try {
        resolve(parseStrictJson(text));
      } catch (err) {
        reject(ratingError('invalid_json', { cause: err }));
      }
    };
    // As raw-body reports a request that ends early, with the same words for the log.
    const onAborted = (): void => {
      done();
      reject(ratingError('invalid_request', { cause: new Error('request aborted') }));
    };
    const onError = (err: Error): void => {
      done();
      reject(bodyError(Object.assign(err, { status: 400 })));
    };
    req.on('data', onData).on('end', onEnd).on('aborted', onAborted).on('error', onError);
  });
}

/** JSON's whitespace (RFC 8259: space, tab, line feed, carriage return), then the first other character. */
const FIRST_NON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r]|$)/;

/**
 * body-parser's strict JSON parse (body-parser 2, lib/types/json.js), for a body that is not
 * empty: only an object or an array, and a SyntaxError with the message body-parser's would have,
 * which the log keeps as the cause.
 */
function parseStrictJson(body: string): unknown {
  if (body[0] !== '{' && body[0] !== '[') {
    const first = FIRST_NON_WHITESPACE.exec(body)?.[1] ?? '';
    if (first !== '{' && first !== '[') throw strictViolation(body, first);
  }
  return JSON.parse(body);
}

/** The message JSON.parse gives at the first character that is not `{` or `[`, as body-parser makes it. */
function strictViolation(body: string, first: string): SyntaxError {
  const index = first === '' ? -1 : body.indexOf(first);
  const partial = index === -1 ? '' : body.slice(0, index) + '#'.repeat(body.length - index);
  try {
    JSON.parse(partial);
    return new SyntaxError('strict violation');
  } catch (e) {
    const message = (e as Error).message.replace(/#+/g, (placeholder) => body.substring(index, index + placeholder.length));
    return new SyntaxError(message);
  }
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
