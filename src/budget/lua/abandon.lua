-- KEYS: 1 task, 2 steps, 3 active. ARGV: 1 active member, 2 cutoff ms
-- Returns {1, spent, steps, last ms} if this call abandoned the task, else {0}.
if redis.call("EXISTS", KEYS[1]) == 0 then
  redis.call("ZREM", KEYS[3], ARGV[1])
  return {0}
end
if redis.call("HEXISTS", KEYS[1], "status") == 1 then
  redis.call("ZREM", KEYS[3], ARGV[1])
  return {0}
end
local v = redis.call("HMGET", KEYS[1], "spent", "reserved", "last")
local last = tonumber(v[3] or "0")
if tonumber(v[2] or "0") > 0 or last > tonumber(ARGV[2]) then return {0} end
redis.call("HSET", KEYS[1], "status", "abandoned")
redis.call("ZREM", KEYS[3], ARGV[1])
return {1, tonumber(v[1] or "0"), tonumber(redis.call("GET", KEYS[2]) or "0"), last}
