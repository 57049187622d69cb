-- Shared head of pulse.lua (one room) and pulse_rooms.lua (many rooms in one call).
-- A node's heartbeat for one room: its viewer count and new likes in, the room's totals out.
-- nodes: node expiry zset    online_key: per-node online hash    counters: counters hash
-- Returns online, peak, likes. Nodes whose heartbeat expired drop out of the sum here.
local function pulse_room(nodes, online_key, counters, node, viewers, new_likes, now, ttl)
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
