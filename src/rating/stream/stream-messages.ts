/**
 * The messages of the rating stream (subprotocol `zt-ratings.v1`), defined once, here: the server
 * validates what clients send with these schemas, and clients (scripts/watch.ts, the tests) read
 * what the server sends with them. Every message is one JSON object in one text frame, with a
 * `type`. The README ("Real-time rating stream") shows an example of each.
 *
 * Client to server; `id` is the client's correlation id, echoed as `ref` in the reply:
 *   ping      { type, id }                      -> pong
 *   rate      { type, id, score, comment? }     -> result (201/200, the POST's body) | error | close 4003
 *   delete    { type, id, user }                -> result (204) | error | close 4003
 *   refresh   { type, id, token }               -> refreshed | error
 * Server to client:
 *   snapshot  the item's aggregate and sequence number: the first message, and again after a gap
 *   update    one per change of the item, in `seq` order
 *   pong, result, refreshed, error (replies)
 */
import { z } from 'zod';
import { ratingBodySchema, userParamsSchema } from '../validation.js';

const ID_MESSAGE = 'must be 1-64 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"';

/** A client's correlation id: short, and safe to echo and to log. */
export const correlationId = z.string({ error: ID_MESSAGE }).regex(/^[A-Za-z0-9._:-]{1,64}$/, { error: ID_MESSAGE });

const TOKEN_MESSAGE = 'must be a JWT in compact form (at most 8192 characters)';

const pingMessage = z.strictObject({ type: z.literal('ping'), id: correlationId });

/** A rating over the socket: the POST body's fields, with the same rules and the same field errors. */
const rateMessage = ratingBodySchema.extend({ type: z.literal('rate'), id: correlationId });

const deleteMessage = z.strictObject({ type: z.literal('delete'), id: correlationId, user: userParamsSchema.shape.user });

const refreshMessage = z.strictObject({
  type: z.literal('refresh'),
  id: correlationId,
  token: z.string({ error: TOKEN_MESSAGE }).regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, { error: TOKEN_MESSAGE }).max(8192, { error: TOKEN_MESSAGE }),
});

const TYPES = ['ping', 'rate', 'delete', 'refresh'] as const;

/** Everything a client may send. */
export const clientMessageSchema = z.discriminatedUnion('type', [pingMessage, rateMessage, deleteMessage, refreshMessage], {
  error: `must be a JSON object whose "type" is one of ${TYPES.join(', ')}`,
});
export type ClientMessage = z.infer<typeof clientMessageSchema>;

const histogram = z.strictObject({ '1': z.number(), '2': z.number(), '3': z.number(), '4': z.number(), '5': z.number() });

/** An aggregate as the API shows it (aggregate.ts `viewOf`). */
const aggregateView = z.strictObject({ count: z.number(), average: z.number().nullable(), histogram });

const snapshotMessage = z.strictObject({
  type: z.literal('snapshot'),
  tenant: z.string(),
  item: z.string(),
  /** The item's sequence number: the next update carries seq + 1. */
  seq: z.number(),
  aggregate: aggregateView,
  /** When the stream's token expires; the socket closes with 4001 a short grace later unless refreshed. */
  expires_at: z.iso.datetime(),
  /** True when the server missed changes (a jump in `seq`, a lost Redis connection) and starts over. */
  resync: z.boolean(),
});

const updateMessage = z.strictObject({
  type: z.literal('update'),
  item: z.string(),
  seq: z.number(),
  change: z.enum(['created', 'replaced', 'deleted']),
  aggregate: aggregateView,
});

const pongMessage = z.strictObject({ type: z.literal('pong'), ref: z.string() });

/** The POST's response body (routes.ts), as a rate's result carries it. */
export const ratingWrittenBody = z.strictObject({
  item: z.string(),
  user: z.string(),
  score: z.number(),
  comment: z.string().optional(),
  created: z.boolean(),
  seq: z.number(),
  aggregate: aggregateView,
});

const resultMessage = z.strictObject({
  type: z.literal('result'),
  ref: z.string(),
  /** The status the same request would get over REST: 201 created, 200 replaced, 204 deleted. */
  status: z.number(),
  rating: ratingWrittenBody.optional(),
});

const refreshedMessage = z.strictObject({ type: z.literal('refreshed'), ref: z.string(), expires_at: z.iso.datetime() });

const errorMessage = z.strictObject({
  type: z.literal('error'),
  /** The `id` of the message this answers; null when there was none to read. */
  ref: z.string().nullable(),
  /** A reason code, as the REST API's `error`. */
  error: z.string(),
  fields: z.array(z.strictObject({ path: z.string(), message: z.string() })).optional(),
  /** With `rate_limited`: when the connection's message bucket has a token again. */
  retry_after_ms: z.number().optional(),
});

/** Everything the server sends. */
export const serverMessageSchema = z.discriminatedUnion('type', [snapshotMessage, updateMessage, pongMessage, resultMessage, refreshedMessage, errorMessage]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** The close codes the server uses, and what each means; the README lists them. */
export const CLOSE_CODES = {
  /** The server is shutting down; reconnect. */
  goingAway: 1001,
  /** A frame that is not JSON text. */
  unsupportedData: 1003,
  /** Messages past the connection's bucket, after an `error` warned of it. */
  policyViolation: 1008,
  /** A frame over the maximum size (the ws library closes with it). */
  messageTooBig: 1009,
  internalError: 1011,
  /** The client reads too slowly: its send buffer overflowed. */
  tryAgainLater: 1013,
  /** The token expired (plus the grace) and was not refreshed. */
  tokenExpired: 4001,
  /** A message the caller's roles do not permit. */
  forbidden: 4003,
} as const;
