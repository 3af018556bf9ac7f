-- KEYS: 1 task, 2 steps, 3 active. ARGV: 1 status, 2 quality|"", 3 active member
-- Returns {0} unknown, {1, status} already recorded, {2, spent, steps, last ms} recorded now.
if redis.call("EXISTS", KEYS[1]) == 0 then return {0} end
local st = redis.call("HGET", KEYS[1], "status")
if st then return {1, st} end
redis.call("HSET", KEYS[1], "status", ARGV[1])
if ARGV[2] ~= "" then redis.call("HSET", KEYS[1], "quality", ARGV[2]) end
redis.call("ZREM", KEYS[3], ARGV[3])
local v = redis.call("HMGET", KEYS[1], "spent", "last")
return {2, tonumber(v[1] or "0"), tonumber(redis.call("GET", KEYS[2]) or "0"), tonumber(v[2] or "0")}
