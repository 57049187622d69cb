-- Read what a join snapshot needs, in one consistent step.
-- uses: stream_lib
-- retry: safe
-- KEYS[1] seq counter   KEYS[2] recent comments   KEYS[3] counters hash   KEYS[4] room info
-- KEYS[5] node expiry zset                        KEYS[6] per-node online hash
-- KEYS[7] epoch
-- ARGV[1] comments wanted                         ARGV[2] now, ms
-- ARGV[3] channel                                 ARGV[4] PUBLISH or SPUBLISH
-- Returns {offset, info or false, {counter, value...}, online, epoch, comment...}
local epoch = stream_epoch(KEYS[1], KEYS[7], ARGV[3], ARGV[4])
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local info = redis.call('GET', KEYS[4])
local counters = redis.call('HGETALL', KEYS[3])
local online = 0
local live = redis.call('ZRANGEBYSCORE', KEYS[5], '(' .. ARGV[2], '+inf')
if #live > 0 then
  for _, v in ipairs(redis.call('HMGET', KEYS[6], unpack(live))) do
    online = online + (tonumber(v) or 0)
  end
end
local out = {seq, info or false, counters, online, epoch}
local k = tonumber(ARGV[1])
if k > 0 then
  for _, c in ipairs(redis.call('LRANGE', KEYS[2], -k, -1)) do out[#out + 1] = c end
end
return out
