-- Shared head of pulse.lua (one room) and pulse_rooms.lua (many rooms in one call).
-- A node's heartbeat for one room: its viewer count and new likes in, the room's totals out.
-- nodes: node expiry zset    online_key: per-node online hash    counters: counters hash
-- Returns online, peak, likes. Nodes whose heartbeat expired drop out of the sum here.
-- A retry (RETRY: both scripts say ``retry: lookup``) adds the new likes only if its first
-- attempt did not run: the node's expiry would then not be the one this call writes (``now``
-- comes from the caller, so both attempts write the same). A node leaving the room (no viewers)
-- leaves no such mark: a retry of that finds it gone and adds no likes (at worst, likes of a
-- pulse whose first attempt never ran are lost, never counted twice).
local function pulse_room(nodes, online_key, counters, node, viewers, new_likes, now, ttl)
  if RETRY and new_likes > 0 then
    local expiry = redis.call('ZSCORE', nodes, node)
    if viewers == 0 and not expiry or tonumber(expiry) == now + ttl then new_likes = 0 end
  end
  if viewers > 0 then
    redis.call('ZADD', nodes, now + ttl, node)
    redis.call('HSET', online_key, node, viewers)
  else
    redis.call('ZREM', nodes, node)
    redis.call('HDEL', online_key, node)
  end
  local dead = redis.call('ZRANGEBYSCORE', nodes, '-inf', now)
  if #dead > 0 then
    redis.call('HDEL', online_key, unpack(dead))
    redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now)
  end
  local online = 0
  for _, v in ipairs(redis.call('HVALS', online_key)) do online = online + tonumber(v) end
  local likes, peak
  if new_likes > 0 then
    likes = redis.call('HINCRBY', counters, 'likes', new_likes)
    peak = tonumber(redis.call('HGET', counters, 'peak_online') or '0')
  else
    local got = redis.call('HMGET', counters, 'likes', 'peak_online')
    likes = tonumber(got[1] or '0')
    peak = tonumber(got[2] or '0')
  end
  if online > peak then
    peak = online
    redis.call('HSET', counters, 'peak_online', peak)
  end
  return online, peak, likes
end
