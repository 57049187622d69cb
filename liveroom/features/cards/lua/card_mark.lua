-- Count a user once per card and kind ("shown", "clicked"), for the funnel.
-- KEYS[1] cards hash   KEYS[2] funnel hash ("<sku>:<kind>" -> distinct users)
-- KEYS[2 + i] the user set of mark i
-- ARGV[1] user   ARGV[2i], ARGV[2i + 1] sku and kind of mark i
-- Returns one number per mark: 1 counted now, 0 counted before, -1 sku not pinned.
local out = {}
for i = 1, #KEYS - 2 do
  local sku, kind = ARGV[2 * i], ARGV[2 * i + 1]
  if redis.call('HEXISTS', KEYS[1], sku) == 0 then
    out[i] = -1
  elseif redis.call('SADD', KEYS[2 + i], ARGV[1]) == 1 then
    redis.call('HINCRBY', KEYS[2], sku .. ':' .. kind, 1)
    out[i] = 1
  else
    out[i] = 0
  end
end
return out
