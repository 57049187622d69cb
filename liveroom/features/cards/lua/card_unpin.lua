-- Take one product card down, or all of them.
-- KEYS[1] cards hash   KEYS[2] slots zset   KEYS[3] board version counter
-- ARGV[1] sku, or '' for every card
-- Returns {status, version, card...}: status ok or not_found; the cards still pinned.
-- retry: lookup
-- A retry that finds the card gone answers ok: its first attempt took it down (or the card was
-- not pinned: either way it is not).
if ARGV[1] ~= '' then
  if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 and not RETRY then return {'not_found', 0} end
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[1], KEYS[2])
end
local out = {'ok', redis.call('INCR', KEYS[3])}
local skus = redis.call('ZRANGE', KEYS[2], 0, -1)
if #skus > 0 then
  for _, card in ipairs(redis.call('HMGET', KEYS[1], unpack(skus))) do out[#out + 1] = card end
end
return out
