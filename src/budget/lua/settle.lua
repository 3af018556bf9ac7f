-- KEYS: 1 month, 2 day, 3 task, 4 leases
-- ARGV: 1 lease member, 2 reserved amount, 3 actual, 4 has task (1|0), 5 task limit|"",
--       6 day limit|"", 7 month limit|"", 8 thresholds csv, 9 month expireat, 10 day expireat,
--       11 task expireat
-- Returns the crossed thresholds as a flat list {kind, bps, exposure, ...}. If the lease was
-- already reaped, the reservation is not subtracted twice; spend is still recorded.
local removed = redis.call("ZREM", KEYS[4], ARGV[1])
local has_task = ARGV[4] == "1"
local function settle(k, expireat)
  if removed == 1 then unreserve(k, ARGV[2]) end
  if ARGV[3] ~= "0" then
    redis.call("HINCRBY", k, "spent", ARGV[3])
    redis.call("EXPIREAT", k, expireat)
  end
end
if has_task then settle(KEYS[3], ARGV[11]) end
settle(KEYS[2], ARGV[10])
settle(KEYS[1], ARGV[9])
local crossed = {}
if has_task then thresholds(crossed, "task", KEYS[3], ARGV[5], ARGV[8]) end
thresholds(crossed, "daily", KEYS[2], ARGV[6], ARGV[8])
thresholds(crossed, "monthly", KEYS[1], ARGV[7], ARGV[8])
return crossed
