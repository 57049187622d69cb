-- A node's heartbeat for many rooms in one call (pulse_lib.lua), for a standalone Redis only:
-- the rooms' keys sit in different Cluster slots.
-- retry: lookup
-- KEYS[3i-2], KEYS[3i-1], KEYS[3i]: room i's node expiry zset, per-node online hash, counters
-- ARGV[1] node id   ARGV[2] now, ms   ARGV[3] node TTL, ms
-- ARGV[2i+2], ARGV[2i+3]: room i's viewers on this node and new likes
-- Returns {online, peak, likes} of each room, one after another in one flat list.
local node, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / 3 do
  local online, peak, likes = pulse_room(KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i], node,
    tonumber(ARGV[2 * i + 2]), tonumber(ARGV[2 * i + 3]), now, ttl)
  out[#out + 1] = online
  out[#out + 1] = peak
  out[#out + 1] = likes
end
return out
