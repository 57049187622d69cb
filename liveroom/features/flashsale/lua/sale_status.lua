-- Open or close a sale.
-- retry: safe
-- KEYS[1] sale hash        KEYS[2] the room's outbox stream
-- ARGV[1] open or close    ARGV[2] sale id
-- A change leaves its event: sale.opened or sale.closed (not a repeated call).
-- Opening a created sale sets start to now (unless scheduled) and end to start + duration
-- (unless set). Both are idempotent; opening a closed sale is a conflict.
-- Returns {code, sale fields}: ok, not_found or conflict.
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
    local f = redis.call('HMGET', KEYS[1], 'sku', 'stock', 'end')
    local end_ms = tonumber(f[3])
    outbox(KEYS[2], 'sale.opened', {sale = ARGV[2], sku = f[1], stock = tonumber(f[2]),
      start = start_ms / 1000, ['end'] = end_ms > 0 and end_ms / 1000 or cjson.null})
  end
elseif status ~= 'closed' then
  redis.call('HSET', KEYS[1], 'status', 'closed')
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  local f = redis.call('HMGET', KEYS[1], 'sku', 'stock', 'reserved', 'paid')
  outbox(KEYS[2], 'sale.closed', {sale = ARGV[2], sku = f[1], stock = tonumber(f[2]),
    reserved = tonumber(f[3]), paid = tonumber(f[4])})
end
return {'ok', redis.call('HGETALL', KEYS[1])}
