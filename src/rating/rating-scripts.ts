/**
 * The Lua scripts of the Redis rating store. Each write is one script, so the per-user rating, the
 * item's aggregate and the published change happen in one atomic step on the server: no other
 * client's command can run between reading the old score and writing the new totals, whatever the
 * number of API replicas, and Redis runs scripts one at a time, so the changes of an item are
 * published in the order of their sequence numbers to every subscriber of every replica.
 *
 * Keys: KEYS[1] = `zt:rating:<tenant>:<item>:users` (hash user -> rating JSON),
 *       KEYS[2] = `zt:rating:<tenant>:<item>:agg` (hash with fields count, sum, 1..5, and seq: the
 *                 item's sequence number, which stays when the last rating goes).
 * The last ARGV is the item's events channel, `zt:rating-events:<tenant>:<item>`; a change is
 * published there as JSON `{"seq": n, "change": "created"|"replaced"|"deleted", "agg": [count, sum,
 * h1..h5]}` (rating-feed-redis.ts reads it).
 *
 * Redis does not roll a script back when it fails half-way, so every script validates what it read
 * before its first write: a corrupted stored rating fails the call and changes nothing.
 *
 * Each reply is {flag, old score or 0, seq} followed by the aggregate as HMGET count sum 1 2 3 4 5
 * (nil for a missing field).
 */

const HELPERS = `
local function score_of(raw)
  local ok, decoded = pcall(cjson.decode, raw)
  local s = ok and type(decoded) == 'table' and tonumber(decoded.score)
  if not s or s < 1 or s > 5 or s % 1 ~= 0 then
    return redis.error_reply('ERR zt-rating: corrupt stored rating')
  end
  return s
end

local function reply_with(flag, old, seq, channel, change)
  local agg = redis.call('HMGET', KEYS[2], 'count', 'sum', '1', '2', '3', '4', '5')
  local reply = { flag, old, seq }
  local totals = {}
  for i = 1, #agg do
    reply[#reply + 1] = agg[i]
    totals[i] = tonumber(agg[i]) or 0
  end
  if change then
    redis.call('PUBLISH', channel, cjson.encode({ seq = seq, change = change, agg = totals }))
  end
  return reply
end
`;

/**
 * ARGV[1] = user, ARGV[2] = score (1..5), ARGV[3] = the rating as JSON, ARGV[4] = the events
 * channel. Reply: {created, old score or 0, seq, aggregate...}.
 */
export const PUT_SCRIPT = `${HELPERS}
local new = tonumber(ARGV[2])
if not new or new < 1 or new > 5 or new % 1 ~= 0 then
  return redis.error_reply('ERR zt-rating: bad score argument')
end
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local old = 0
if raw then
  old = score_of(raw)
  if type(old) == 'table' then return old end
  redis.call('HINCRBY', KEYS[2], tostring(old), -1)
  redis.call('HINCRBY', KEYS[2], 'sum', -old)
else
  redis.call('HINCRBY', KEYS[2], 'count', 1)
end
redis.call('HINCRBY', KEYS[2], tostring(new), 1)
redis.call('HINCRBY', KEYS[2], 'sum', new)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
return reply_with(raw and 0 or 1, old, seq, ARGV[4], raw and 'replaced' or 'created')
`;

/** ARGV[1] = user, ARGV[2] = the events channel. Reply: {deleted, old score or 0, seq, aggregate...}. */
export const REMOVE_SCRIPT = `${HELPERS}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then
  return reply_with(0, 0, tonumber(redis.call('HGET', KEYS[2], 'seq')) or 0, ARGV[2], nil)
end
local old = score_of(raw)
if type(old) == 'table' then return old end
redis.call('HDEL', KEYS[1], ARGV[1])
local left = redis.call('HINCRBY', KEYS[2], 'count', -1)
if left <= 0 then
  -- The last rating went: drop the totals, keeping only the sequence number, which must never go back.
  redis.call('HDEL', KEYS[2], 'count', 'sum', '1', '2', '3', '4', '5')
else
  redis.call('HINCRBY', KEYS[2], tostring(old), -1)
  redis.call('HINCRBY', KEYS[2], 'sum', -old)
end
local seq = redis.call('HINCRBY', KEYS[2], 'seq', 1)
return reply_with(1, old, seq, ARGV[2], 'deleted')
`;

/** KEYS[1] = the `:agg` hash alone, no ARGV. Reply: {seq} followed by the aggregate, read together. */
export const SNAPSHOT_SCRIPT = `
local agg = redis.call('HMGET', KEYS[1], 'count', 'sum', '1', '2', '3', '4', '5')
local reply = { tonumber(redis.call('HGET', KEYS[1], 'seq')) or 0 }
for i = 1, #agg do reply[#reply + 1] = agg[i] end
return reply
`;
