/** A score as the API accepts it. */
export type Score = 1 | 2 | 3 | 4 | 5;

const SCORES: readonly Score[] = [1, 2, 3, 4, 5];

/** How many ratings of each score an item has, keyed `"1"`..`"5"` as JSON shows it. */
export type Histogram = Record<'1' | '2' | '3' | '4' | '5', number>;

/**
 * An item's running totals, kept next to the per-user ratings and updated in the same atomic step,
 * so that `count` always equals the number of stored ratings and `sum` their total.
 */
export interface Aggregate {
  readonly count: number;
  readonly sum: number;
  readonly histogram: Histogram;
}

/** The aggregate as the API returns it. */
interface AggregateView {
  readonly count: number;
  /** `sum / count` at full double precision; `null` while the item has no ratings. */
  readonly average: number | null;
  readonly histogram: Histogram;
}

function emptyHistogram(): Histogram {
  return { '1': 0, '2': 0, '3': 0, '4': 0, '5': 0 };
}

export function emptyAggregate(): Aggregate {
  return { count: 0, sum: 0, histogram: emptyHistogram() };
}

/**
 * Derives the average rather than storing it: a stored average would be a third value to keep in
 * step, and rounding belongs to whoever displays it.
 */
export function viewOf(agg: Aggregate): AggregateView {
  return { count: agg.count, average: agg.count === 0 ? null : agg.sum / agg.count, histogram: { ...agg.histogram } };
}

/** Narrows a number to a score; anything else is undefined. */
export function asScore(n: unknown): Score | undefined {
  return SCORES.find((s) => s === n);
}

/** An aggregate from its seven counts in storage order (count, sum, then scores 1 to 5); missing ones are 0. */
export function aggregateFromCounts(counts: readonly number[]): Aggregate {
  const [count = 0, sum = 0, h1 = 0, h2 = 0, h3 = 0, h4 = 0, h5 = 0] = counts;
  return { count, sum, histogram: { '1': h1, '2': h2, '3': h3, '4': h4, '5': h5 } };
}
