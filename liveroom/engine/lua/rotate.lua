-- A node found that the stream under an epoch lost events it had delivered (a failover to a
-- replica that had not caught up): give the stream a new epoch, unless it has moved on already.
-- uses: stream_lib
-- retry: safe
-- KEYS[1] seq counter      KEYS[2] epoch
-- ARGV[1] the epoch found wanting                   ARGV[2] channel   ARGV[3] PUBLISH or SPUBLISH
-- Returns {head, epoch}: the stream after. Compare-and-set, so nodes that find the same loss at
-- once rotate it once.
local epoch = stream_epoch(KEYS[1], KEYS[2], ARGV[2], ARGV[3])
if epoch == ARGV[1] then epoch = stream_renew(KEYS[1], KEYS[2], ARGV[2], ARGV[3], epoch) end
return {tonumber(redis.call('GET', KEYS[1]) or '0'), epoch}
