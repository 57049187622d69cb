-- Read the pinned product cards in one consistent step.
-- retry: safe
-- KEYS[1] cards hash   KEYS[2] slots zset   KEYS[3] board version counter
-- Returns {'ok', version, card...} with cards in slot order.
local out = {'ok', tonumber(redis.call('GET', KEYS[3]) or '0')}
local skus = redis.call('ZRANGE', KEYS[2], 0, -1)
if #skus > 0 then
  for _, card in ipairs(redis.call('HMGET', KEYS[1], unpack(skus))) do out[#out + 1] = card end
end
return out
