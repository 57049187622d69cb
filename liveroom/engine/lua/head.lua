-- Where a room's stream is now: its epoch (created if missing) and newest offset.
-- uses: stream_lib
-- retry: safe
-- KEYS[1] seq counter      KEYS[2] epoch
-- ARGV[1] channel          ARGV[2] PUBLISH or SPUBLISH
-- Returns {head, epoch}.
local epoch = stream_epoch(KEYS[1], KEYS[2], ARGV[1], ARGV[2])
return {tonumber(redis.call('GET', KEYS[1]) or '0'), epoch}
