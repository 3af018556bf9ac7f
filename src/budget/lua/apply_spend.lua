-- Rebuild: adds one past spend. KEYS: 1 month|"", 2 day|"", 3 task|"", 4 steps, 5 active
-- ARGV: 1 cost, 2 month expireat, 3 day expireat, 4 task expireat, 5 event ms, 6 active member
local function add(k, expireat)
  if k ~= "" then
    redis.call("HINCRBY", k, "spent", ARGV[1])
    redis.call("EXPIREAT", k, expireat)
  end
end
add(KEYS[1], ARGV[2])
add(KEYS[2], ARGV[3])
if KEYS[3] ~= "" then
  add(KEYS[3], ARGV[4])
  redis.call("INCR", KEYS[4])
  redis.call("EXPIREAT", KEYS[4], ARGV[4])
  local last = tonumber(redis.call("HGET", KEYS[3], "last") or "0")
  if tonumber(ARGV[5]) > last then
    redis.call("HSET", KEYS[3], "last", ARGV[5])
    redis.call("ZADD", KEYS[5], ARGV[5], ARGV[6])
  end
end
return 1
