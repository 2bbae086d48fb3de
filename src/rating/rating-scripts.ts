/**
 * The Lua scripts of the Redis rating store. Each write is one script, so the per-user rating and
 * the item's aggregate change in one atomic step on the server: no other client's command can run
 * between reading the old score and writing the new totals, whatever the number of API replicas.
 *
 * Keys: KEYS[1] = `zt:rating:<tenant>:<item>:users` (hash user -> rating JSON),
 *       KEYS[2] = `zt:rating:<tenant>:<item>:agg` (hash with fields count, sum, 1..5).
 *
 * Redis does not roll a script back when it fails half-way, so every script validates what it read
 * before its first write: a corrupted stored rating fails the call and changes nothing.
 *
 * Each reply ends with the aggregate as HMGET count sum 1 2 3 4 5 (nil for a missing field).
 */

const OLD_SCORE = `
local function score_of(raw)
  local ok, decoded = pcall(cjson.decode, raw)
  local s = ok and type(decoded) == 'table' and tonumber(decoded.score)
  if not s or s < 1 or s > 5 or s % 1 ~= 0 then
    return redis.error_reply('ERR zt-rating: corrupt stored rating')
  end
  return s
end
`;

/** ARGV[1] = user, ARGV[2] = score (1..5), ARGV[3] = the rating as JSON. Reply: {created, old score or 0, aggregate...}. */
export const PUT_SCRIPT = `${OLD_SCORE}
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
local reply = { raw and 0 or 1, old }
local agg = redis.call('HMGET', KEYS[2], 'count', 'sum', '1', '2', '3', '4', '5')
for i = 1, #agg do reply[#reply + 1] = agg[i] end
return reply
`;

/** ARGV[1] = user. Reply: {deleted, old score or 0, aggregate...}. */
export const REMOVE_SCRIPT = `${OLD_SCORE}
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local old = 0
if raw then
  old = score_of(raw)
  if type(old) == 'table' then return old end
  redis.call('HDEL', KEYS[1], ARGV[1])
  local left = redis.call('HINCRBY', KEYS[2], 'count', -1)
  if left <= 0 then
    -- The last rating went: drop the totals too, so an unrated item holds no keys at all.
    redis.call('DEL', KEYS[2])
  else
    redis.call('HINCRBY', KEYS[2], tostring(old), -1)
    redis.call('HINCRBY', KEYS[2], 'sum', -old)
  end
end
local reply = { raw and 1 or 0, old }
local agg = redis.call('HMGET', KEYS[2], 'count', 'sum', '1', '2', '3', '4', '5')
for i = 1, #agg do reply[#reply + 1] = agg[i] end
return reply
`;
