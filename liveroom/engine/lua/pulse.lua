-- A node's heartbeat for one room (pulse_lib.lua): its viewer count and new likes in, the
-- room's totals out.
-- retry: lookup
-- KEYS[1] node expiry zset   KEYS[2] per-node online hash   KEYS[3] counters hash
-- ARGV[1] node id            ARGV[2] viewers on this node   ARGV[3] new likes
-- ARGV[4] now, ms            ARGV[5] node TTL, ms
-- Returns {online, peak, likes}.
local online, peak, likes = pulse_room(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]),
  tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]))
return {online, peak, likes}
