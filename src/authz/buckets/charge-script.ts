/**
 * The Lua script that charges every bucket of one request atomically in Redis.
 *
 * KEYS: one hash per bucket, {tokens, ts}. ARGV: per bucket, capacity, refill per second, cost.
 * Reply: {allowed, denied_index (1-based, 0 if allowed), retry_after_ms, then per bucket
 * remaining (floor) and reset_ms (time to full)}.
 *
 * Why this shape:
 * - One script, all buckets: Redis runs it without interleaving, so the check and the decrement of
 *   every bucket are one step, and a request denied by one bucket takes nothing from the others.
 * - `TIME` inside the script: every authz replica uses the same clock, the server's. Redis 7
 *   replicates scripts by their effects, so a non-deterministic read before the writes is allowed.
 * - A denied request writes nothing: the stored (tokens, ts) pair already implies the refill.
 * - A full bucket is deleted and any other gets PEXPIRE = time to full: an absent key reads as a full
 *   bucket, so expiry loses nothing and idle users cost no memory.
 * - Redis Cluster would need all KEYS of one call in one slot (a shared `{hash tag}`); this
 *   deployment runs a single Redis, so the keys carry none.
 * - The epsilon forgives float drift, so a client that waits exactly Retry-After is admitted.
 */
export const CHARGE_SCRIPT = `
local eps = 1e-9
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local n = #KEYS
local tokens = {}
local denied = 0
local wait = 0
for i = 1, n do
  local cap = tonumber(ARGV[3 * i - 2])
  local rate = tonumber(ARGV[3 * i - 1]) / 1000
  local cost = tonumber(ARGV[3 * i])
  local h = redis.call('HMGET', KEYS[i], 'tokens', 'ts')
  local tk = tonumber(h[1])
  local ts = tonumber(h[2])
  if tk == nil or ts == nil then
    tk = cap
  else
    local elapsed = now - ts
    if elapsed < 0 then elapsed = 0 end
    tk = math.min(cap, tk + elapsed * rate)
  end
  tokens[i] = tk
  if tk + eps < cost then
    if denied == 0 then denied = i end
    local w = (cost - tk) / rate
    if w > wait then wait = w end
  end
end
local out = {0, denied, math.ceil(wait)}
if denied == 0 then
  out[1] = 1
  for i = 1, n do
    local cap = tonumber(ARGV[3 * i - 2])
    local rate = tonumber(ARGV[3 * i - 1]) / 1000
    local tk = tokens[i] - tonumber(ARGV[3 * i])
    tokens[i] = tk
    if tk >= cap - eps then
      redis.call('DEL', KEYS[i])
    else
      redis.call('HSET', KEYS[i], 'tokens', tk, 'ts', now)
      redis.call('PEXPIRE', KEYS[i], math.ceil((cap - tk) / rate))
    end
  end
end
for i = 1, n do
  local cap = tonumber(ARGV[3 * i - 2])
  local rate = tonumber(ARGV[3 * i - 1]) / 1000
  out[2 * i + 2] = math.floor(tokens[i] + eps)
  out[2 * i + 3] = math.ceil((cap - tokens[i]) / rate)
end
return out
`;
