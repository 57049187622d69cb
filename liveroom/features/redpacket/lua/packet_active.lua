-- The room's red packets that still have packets left, oldest first.
-- retry: safe
-- KEYS[1] packets hash   KEYS[2] packets-left hash   KEYS[3] active zset   KEYS[4] keywords hash
-- ARGV[1] now, ms   ARGV[2] a packet's key lifetime, s
-- A packet older than its lifetime has lost its own keys: it is forgotten here as well.
-- Returns {public JSON, left, public JSON, left, ...}.
local ids = redis.call('ZRANGE', KEYS[3], 0, -1)
if #ids == 0 then return {} end
local metas = redis.call('HMGET', KEYS[1], unpack(ids))
local lefts = redis.call('HMGET', KEYS[2], unpack(ids))
local now, lifetime = tonumber(ARGV[1]), tonumber(ARGV[2]) * 1000
local out = {}
for i = 1, #ids do
  local meta = metas[i]
  local ok, decoded = false, nil
  if meta then ok, decoded = pcall(cjson.decode, meta) end
  local created = ok and type(decoded) == 'table' and tonumber(decoded.created) or nil
  if meta and (not created or created * 1000 + lifetime > now) then
    out[#out + 1] = meta
    out[#out + 1] = tonumber(lefts[i] or '0')
  else
    forget_packet(ids[i], meta)
  end
end
return out
