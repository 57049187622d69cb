-- Kick a user from a room until a time; the hash lives until its longest kick ends.
-- retry: safe
-- KEYS[1] the room's kicks hash
-- ARGV[1] user id          ARGV[2] when the kick ends, ms since the epoch
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local left = tonumber(ARGV[2]) - now
if left > redis.call('PTTL', KEYS[1]) then
  redis.call('PEXPIRE', KEYS[1], math.max(left, 1) + 1000)
end
return 1
