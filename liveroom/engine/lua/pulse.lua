-- A node's heartbeat for one room: its viewer count and new likes in, the room's totals out.
-- KEYS[1] node expiry zset   KEYS[2] per-node online hash   KEYS[3] counters hash
-- ARGV[1] node id            ARGV[2] viewers on this node   ARGV[3] new likes
-- ARGV[4] now, ms            ARGV[5] node TTL, ms
-- Returns {online, peak, likes}. Nodes whose heartbeat expired drop out of the sum here.
local now = tonumber(ARGV[4])
if tonumber(ARGV[2]) > 0 then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[5]), ARGV[1])
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
else
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)
if #dead > 0 then
  redis.call('HDEL', KEYS[2], unpack(dead))
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
end
local online = 0
for _, v in ipairs(redis.call('HVALS', KEYS[2])) do online = online + tonumber(v) end
local likes
if tonumber(ARGV[3]) > 0 then
  likes = redis.call('HINCRBY', KEYS[3], 'likes', ARGV[3])
else
  likes = tonumber(redis.call('HGET', KEYS[3], 'likes') or '0')
end
local peak = tonumber(redis.call('HGET', KEYS[3], 'peak_online') or '0')
if online > peak then
  peak = online
  redis.call('HSET', KEYS[3], 'peak_online', peak)
end
return {online, peak, likes}
