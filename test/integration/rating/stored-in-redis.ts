import type { Redis } from 'ioredis';
import type { ItemKey, StoredRating } from '../../../src/rating/rating-store.js';

/** Every user's rating of an item as Redis holds it (`zt:rating:<tenant>:<item>:users`), read around the store. */
export async function storedRatingsIn(admin: Redis, key: ItemKey): Promise<Map<string, StoredRating>> {
  const raw = await admin.hgetall(`zt:rating:${key.tenant}:${key.item}:users`);
  return new Map(Object.entries(raw).map(([user, json]) => [user, JSON.parse(json) as StoredRating]));
}

/** One user's rating as Redis holds it, or undefined. */
export async function storedRatingIn(admin: Redis, key: ItemKey, user: string): Promise<StoredRating | undefined> {
  return (await storedRatingsIn(admin, key)).get(user);
}

/**
 * How many keys hold ratings or totals: every key, except an item's `:agg` hash that holds nothing
 * but its sequence number (kept when the last rating goes, so that it never goes back).
 */
export async function recordsIn(admin: Redis): Promise<number> {
  let n = 0;
  for (const key of await admin.keys('*')) {
    if (key.endsWith(':agg') && (await admin.hkeys(key)).every((f) => f === 'seq')) continue;
    n += 1;
  }
  return n;
}
