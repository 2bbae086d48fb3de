import type { ItemKey } from '../rating-store.js';

/**
 * The Redis pub/sub channel an item's changes are published on. The prefix is what the rating
 * API's Redis ACL user is granted (`&zt:rating-events:*`); ids cannot hold `:`, so channels never
 * collide.
 */
export const EVENTS_CHANNEL_PREFIX = 'zt:rating-events:';

export function eventsChannel(key: ItemKey): string {
  return `${EVENTS_CHANNEL_PREFIX}${key.tenant}:${key.item}`;
}

/** The item of a channel name, or undefined for a channel that is not an item's. */
export function itemOfChannel(channel: string): ItemKey | undefined {
  if (!channel.startsWith(EVENTS_CHANNEL_PREFIX)) return undefined;
  const [tenant, item, ...rest] = channel.slice(EVENTS_CHANNEL_PREFIX.length).split(':');
  return tenant && item && rest.length === 0 ? { tenant, item } : undefined;
}
