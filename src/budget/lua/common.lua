-- Shared helpers (prepended to every script). Money travels as decimal integer strings so that
-- HINCRBY never sees Lua's float formatting; comparisons use tonumber (exact below 2^53).
local function usage(k)
  local v = redis.call("HMGET", k, "spent", "reserved")
  return tonumber(v[1] or "0"), tonumber(v[2] or "0")
end

local function split(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, "\n", start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

-- Subtracts a reservation from a window that still exists (never recreates an expired key).
local function unreserve(k, amt)
  if k ~= "" and amt ~= "0" and redis.call("EXISTS", k) == 1 then
    redis.call("HINCRBY", k, "reserved", "-" .. amt)
  end
end

-- Lease member: id \n amount \n month key \n day key \n task key (or empty).
local function unreserve_member(m)
  local p = split(m)
  for i = 3, #p do unreserve(p[i], p[2]) end
end

local function reap(leases, now_ms)
  local expired = redis.call("ZRANGEBYSCORE", leases, "-inf", now_ms, "LIMIT", 0, 50)
  for _, m in ipairs(expired) do
    if redis.call("ZREM", leases, m) == 1 then unreserve_member(m) end
  end
end

-- Appends {kind, bps, exposure} for each threshold newly reached in window k (once per window).
local function thresholds(crossed, kind, k, lim, csv)
  if lim == "" then return end
  local s, r = usage(k)
  local e, L = s + r, tonumber(lim)
  for t in string.gmatch(csv, "%d+") do
    if e * 10000 >= L * tonumber(t) and redis.call("HSETNX", k, "f:" .. t, "1") == 1 then
      crossed[#crossed + 1] = kind
      crossed[#crossed + 1] = tonumber(t)
      crossed[#crossed + 1] = e
    end
  end
end
