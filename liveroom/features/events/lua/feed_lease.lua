-- Take, renew or give back one lane's lease (a room's deliveries to one endpoint): the holder
-- is the only node delivering that lane, so the room's events reach the endpoint in order.
-- retry: safe
-- KEYS[1] lease key (string: the holder)
-- ARGV[1] owner   ARGV[2] TTL, ms   ARGV[3] take or release
-- Returns 1 when ``owner`` holds the lease now (take) or no longer (release), 0 when another
-- owner holds it.
local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 1
end
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
