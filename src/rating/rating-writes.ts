import type { Logger } from '../shared/logger.js';
import { asScore, viewOf } from './aggregate.js';
import type { Caller } from './caller.js';
import { ratingError } from './rating-errors.js';
import type { ItemKey, RatingStore, StoredRating } from './rating-store.js';

/** Who writes, where, and through what: a REST request or a stream message. */
export interface WriteContext {
  readonly store: RatingStore;
  readonly logger: Logger;
  /** The REST request's id, or the stream's (its handshake request's id). */
  readonly requestId: string;
  readonly caller: Caller;
  readonly key: ItemKey;
  readonly via: 'rest' | 'stream';
}

/** The POST's answer: 201 when the caller's rating is new, 200 when it replaced one. */
export interface WriteResult {
  readonly status: 200 | 201;
  readonly body: {
    readonly item: string;
    readonly user: string;
    readonly score: number;
    readonly comment?: string;
    readonly created: boolean;
    /** The item's sequence number after this write: the stream's update with this seq is this write. */
    readonly seq: number;
    readonly aggregate: ReturnType<typeof viewOf>;
  };
}

/** A rating body that passed ratingBodySchema, as the store keeps it. */
export function storedRating(body: { score: number; comment?: string | undefined }): StoredRating {
  const score = asScore(body.score);
  if (score === undefined) throw ratingError('invalid_request');
  return body.comment === undefined ? { score } : { score, comment: body.comment };
}

/**
 * Stores the caller's rating of the item and logs it: the one write path of `POST .../ratings` and
 * of a stream's `rate` message, which both validate the input with ratingBodySchema first.
 */
export async function writeRating(ctx: WriteContext, rating: StoredRating): Promise<WriteResult> {
  const outcome = await ctx.store.put(ctx.key, ctx.caller.subject, rating);
  const replaced = outcome.previousScore === undefined ? {} : { previous_score: outcome.previousScore };
  const { tenant, item } = ctx.key;
  ctx.logger.info({ request_id: ctx.requestId, tenant, item, subject: ctx.caller.subject, score: rating.score, created: outcome.created, ...replaced, seq: outcome.seq, via: ctx.via }, 'rating_written');
  return {
    status: outcome.created ? 201 : 200,
    body: {
      item,
      user: ctx.caller.subject,
      score: rating.score,
      ...(rating.comment === undefined ? {} : { comment: rating.comment }),
      created: outcome.created,
      seq: outcome.seq,
      aggregate: viewOf(outcome.aggregate),
    },
  };
}

/** Deletes `user`'s rating of the item and logs it; 404 `not_found` when there is none. */
export async function deleteRating(ctx: WriteContext, user: string): Promise<void> {
  const outcome = await ctx.store.remove(ctx.key, user);
  if (!outcome.deleted) throw ratingError('not_found');
  ctx.logger.info({ request_id: ctx.requestId, tenant: ctx.key.tenant, item: ctx.key.item, subject: ctx.caller.subject, user, seq: outcome.seq, via: ctx.via }, 'rating_deleted');
}
