-- KEYS: 1 month, 2 day, 3 task, 4 steps, 5 leases, 6 active tasks
-- ARGV: 1 estimate, 2 downgrade estimate|"", 3 task limit|"", 4 day limit|"", 5 month limit|"",
--       6 step limit|"", 7 mode (deny|downgrade|alert), 8 now ms, 9 lease expiry ms, 10 id,
--       11 has task (1|0), 12 thresholds csv, 13 month expireat, 14 day expireat,
--       15 task expireat, 16 active member
-- Returns {0, kind, limit, spent, reserved, requested} or {1, amount, downgraded, over, crossed}.
-- Mirrors check.rs::decide; keep the two in sync.
reap(KEYS[5], ARGV[8])
local has_task = ARGV[11] == "1"
local wins = {}
if has_task then wins[#wins + 1] = {"task", KEYS[3], ARGV[3]} end
wins[#wins + 1] = {"daily", KEYS[2], ARGV[4]}
wins[#wins + 1] = {"monthly", KEYS[1], ARGV[5]}

local function violations(amount, all)
  local out = {}
  for _, w in ipairs(wins) do
    if w[3] ~= "" then
      local s, r = usage(w[2])
      local lim = tonumber(w[3])
      if s + r + amount > lim then
        out[#out + 1] = {w[1], lim, s, r, amount}
        if not all then return out end
      end
    end
  end
  return out
end

local steps = 0
if has_task then steps = tonumber(redis.call("GET", KEYS[4]) or "0") end
local step_viol = nil
if has_task and ARGV[6] ~= "" and steps >= tonumber(ARGV[6]) then
  step_viol = {"steps", tonumber(ARGV[6]), steps, 0, 1}
end

local mode, est = ARGV[7], tonumber(ARGV[1])
local amt_s, downgraded, over = ARGV[1], 0, {}
local function deny(v) return {0, v[1], v[2], v[3], v[4], v[5]} end
if mode == "alert" then
  if step_viol then over[#over + 1] = step_viol end
  for _, v in ipairs(violations(est, true)) do over[#over + 1] = v end
else
  if step_viol then return deny(step_viol) end
  local v = violations(est, false)[1]
  if v then
    if mode ~= "downgrade" or ARGV[2] == "" then return deny(v) end
    local v2 = violations(tonumber(ARGV[2]), false)[1]
    if v2 then return deny(v2) end
    amt_s, downgraded = ARGV[2], 1
  end
end

local function touch(k, expireat)
  redis.call("HINCRBY", k, "reserved", amt_s)
  redis.call("EXPIREAT", k, expireat)
end
local task_key = ""
if has_task then
  task_key = KEYS[3]
  touch(KEYS[3], ARGV[15])
  redis.call("HSET", KEYS[3], "last", ARGV[8])
  redis.call("INCR", KEYS[4])
  redis.call("EXPIREAT", KEYS[4], ARGV[15])
  if redis.call("HEXISTS", KEYS[3], "status") == 0 then
    redis.call("ZADD", KEYS[6], ARGV[8], ARGV[16])
  end
end
touch(KEYS[2], ARGV[14])
touch(KEYS[1], ARGV[13])
local member = ARGV[10] .. "\n" .. amt_s .. "\n" .. KEYS[1] .. "\n" .. KEYS[2] .. "\n" .. task_key
redis.call("ZADD", KEYS[5], ARGV[9], member)

local crossed = {}
if has_task then thresholds(crossed, "task", KEYS[3], ARGV[3], ARGV[12]) end
thresholds(crossed, "daily", KEYS[2], ARGV[4], ARGV[12])
thresholds(crossed, "monthly", KEYS[1], ARGV[5], ARGV[12])
local over_flat = {}
for _, v in ipairs(over) do
  for _, x in ipairs(v) do over_flat[#over_flat + 1] = x end
end
return {1, tonumber(amt_s), downgraded, over_flat, crossed}
