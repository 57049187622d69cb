-- End a batch's claim window now (coupons already claimed stay valid). Idempotent.
-- retry: safe
-- KEYS[1] the room's batches       KEYS[2] claimed per batch (hash: id -> count)
-- ARGV[1] batch id
-- Returns {terms JSON, claimed}, or {false, 0} when there is no such batch.
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {false, 0} end
local b = cjson.decode(raw)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if b['end'] == 0 or b['end'] > now then
  b['end'] = now
  raw = cjson.encode(b)
  redis.call('HSET', KEYS[1], ARGV[1], raw)
end
return {raw, tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')}
