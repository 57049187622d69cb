-- Open or close a deal. Closing fails no group itself: the sweep that follows it (run at once
-- by the closer, and by every sweeper) fails every open group of a closed deal.
-- retry: safe
-- KEYS[1] deal hash
-- ARGV[1] open or close
-- Opening a created deal sets start to now (unless scheduled) and end to start + duration
-- (unless set). Both are idempotent; opening a closed deal is a conflict.
-- Returns {code, deal fields}: ok, not_found or conflict.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return {'not_found', {}} end
if ARGV[1] == 'open' then
  if status == 'closed' then return {'conflict', redis.call('HGETALL', KEYS[1])} end
  if status == 'created' then
    local t = redis.call('TIME')
    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    local start_ms = tonumber(redis.call('HGET', KEYS[1], 'start'))
    if start_ms == 0 then
      start_ms = now
      redis.call('HSET', KEYS[1], 'start', start_ms)
    end
    local duration = tonumber(redis.call('HGET', KEYS[1], 'duration'))
    if tonumber(redis.call('HGET', KEYS[1], 'end')) == 0 and duration > 0 then
      redis.call('HSET', KEYS[1], 'end', start_ms + duration)
    end
    redis.call('HSET', KEYS[1], 'status', 'open')
    redis.call('HINCRBY', KEYS[1], 'version', 1)
  end
elseif status ~= 'closed' then
  redis.call('HSET', KEYS[1], 'status', 'closed')
  redis.call('HINCRBY', KEYS[1], 'version', 1)
end
return {'ok', redis.call('HGETALL', KEYS[1])}
