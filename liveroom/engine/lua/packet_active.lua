-- The room's red packets that still have packets left, oldest first.
-- KEYS[1] packets hash   KEYS[2] packets-left hash   KEYS[3] active zset
-- Returns {public JSON, left, public JSON, left, ...}.
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
if #ids == 0 then return {} end
local metas = redis.call('HMGET', KEYS[1], unpack(ids))
local lefts = redis.call('HMGET', KEYS[2], unpack(ids))
local out = {}
for i = 1, #ids do
  if metas[i] then
    out[#out + 1] = metas[i]
    out[#out + 1] = tonumber(lefts[i] or '0')
  end
end
return out
