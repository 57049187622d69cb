-- One user's coupons in a room, read in one step.
-- retry: safe
-- KEYS[1] wallets (hash: user -> coupon ids, spaced)
-- KEYS[2] the room's claimed coupons (coupon_lib's layout)
-- ARGV[1] user
-- Returns the coupons' JSON, in the order claimed.
local ids = redis.call('HGET', KEYS[1], ARGV[1])
local out = {}
for id in string.gmatch(ids or '', '%S+') do
  local raw = redis.call('HGET', KEYS[2], id)
  if raw then out[#out + 1] = raw end
end
return out
