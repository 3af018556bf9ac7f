-- KEYS: 1 leases. ARGV: 1 lease member. Returns 1 if released, 0 if already gone.
if redis.call("ZREM", KEYS[1], ARGV[1]) == 1 then
  unreserve_member(ARGV[1])
  return 1
end
return 0
