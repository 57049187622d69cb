-- Mute a user in a room until a time, and tell the shop's backend (``user.muted``).
-- retry: lookup
-- KEYS[1] mutes hash       KEYS[2] the room's outbox stream
-- ARGV[1] user id          ARGV[2] until, ms            ARGV[3] the event's JSON payload
-- A retry that finds the mute in place (its first attempt ran) leaves no second event.
if RETRY and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 1 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
outbox(KEYS[2], 'user.muted', ARGV[3])
return 1
