import { aggregateFromCounts, emptyAggregate, type Aggregate } from './aggregate.js';

/**
 * The replies of the rating store's Lua scripts and HMGET (rating-scripts.ts), read by hand. They
 * are our own scripts' output, not a trust boundary, but a reply of another shape (a script from
 * another version, a corrupted hash) must still fail the call rather than become a wrong answer:
 * each reader throws, and the store turns that into `unavailable`. No schema object is built per
 * reply; these run once per request.
 */

/** A write script's reply: {flag, old score or 0, seq} and the aggregate. */
export interface ScriptReply {
  readonly flag: number;
  readonly old: number;
  readonly seq: number;
  readonly aggregate: Aggregate;
}

/** The snapshot script's reply: {seq} and the aggregate. */
export interface SnapshotReply {
  readonly seq: number;
  readonly aggregate: Aggregate;
}

/** How many fields HMGET count sum 1 2 3 4 5 returns. */
const AGGREGATE_FIELDS = 7;

export function scriptReply(reply: unknown): ScriptReply {
  const r = arrayOf(reply, 3 + AGGREGATE_FIELDS);
  return { flag: integer(r[0]), old: integer(r[1]), seq: integer(r[2]), aggregate: aggregateOf(r, 3) };
}

export function snapshotReply(reply: unknown): SnapshotReply {
  const r = arrayOf(reply, 1 + AGGREGATE_FIELDS);
  return { seq: integer(r[0]), aggregate: aggregateOf(r, 1) };
}

/** HMGET count sum 1 2 3 4 5 as an Aggregate; all-missing fields are an item never rated. */
export function aggregateReply(reply: unknown): Aggregate {
  return aggregateOf(arrayOf(reply, AGGREGATE_FIELDS), 0);
}

function arrayOf(reply: unknown, length: number): readonly unknown[] {
  if (!Array.isArray(reply) || reply.length !== length) throw new Error(`unexpected reply: not a list of ${length}`);
  return reply;
}

function integer(v: unknown): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new Error(`unexpected reply: ${String(v)} is not an integer`);
  return v;
}

/** The seven counts from `from` on: each a string of a whole number, or nil (0). */
function aggregateOf(r: readonly unknown[], from: number): Aggregate {
  const counts: number[] = [];
  let present = false;
  for (let i = from; i < from + AGGREGATE_FIELDS; i++) {
    const v = r[i];
    if (v === null) {
      counts.push(0);
      continue;
    }
    if (typeof v !== 'string') throw new Error('unexpected reply: an aggregate field is neither a string nor nil');
    const x = Number(v);
    if (!Number.isSafeInteger(x) || x < 0) throw new Error(`aggregate field is not a count: ${v}`);
    present = true;
    counts.push(x);
  }
  return present ? aggregateFromCounts(counts) : emptyAggregate();
}
