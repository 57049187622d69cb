-- Pin a product card, update it in its slot, or put it in another card's slot.
-- KEYS[1] cards hash (sku -> card JSON)   KEYS[2] slots zset (sku -> slot order)
-- KEYS[3] board version counter
-- ARGV[1] sku   ARGV[2] card JSON   ARGV[3] most cards pinned at once   ARGV[4] sku to replace or ''
-- Returns {status, version, card...}: status ok, full, not_found or conflict; cards in slot order.
-- retry: lookup
-- A retry of a replacement that finds the card pinned as given and the replaced one gone
-- takes it as its first attempt's, and answers as an update of the card (a version more).
local sku, replace = ARGV[1], ARGV[4]
if RETRY and replace ~= '' and redis.call('HGET', KEYS[1], sku) == ARGV[2]
    and not redis.call('ZSCORE', KEYS[2], replace) then
  replace = ''
end
if replace ~= '' and replace ~= sku then
  local slot = redis.call('ZSCORE', KEYS[2], replace)
  if not slot then return {'not_found', 0} end
  if redis.call('HEXISTS', KEYS[1], sku) == 1 then return {'conflict', 0} end
  redis.call('HDEL', KEYS[1], replace)
  redis.call('ZREM', KEYS[2], replace)
  redis.call('ZADD', KEYS[2], slot, sku)
elseif redis.call('HEXISTS', KEYS[1], sku) == 0 then
  if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[3]) then return {'full', 0} end
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  local slot = 1
  if #last > 0 then slot = tonumber(last[2]) + 1 end
  redis.call('ZADD', KEYS[2], slot, sku)
end
redis.call('HSET', KEYS[1], sku, ARGV[2])
local out = {'ok', redis.call('INCR', KEYS[3])}
local skus = redis.call('ZRANGE', KEYS[2], 0, -1)
if #skus > 0 then
  for _, card in ipairs(redis.call('HMGET', KEYS[1], unpack(skus))) do out[#out + 1] = card end
end
return out
