-- Claim one coupon of a batch for one user: the atomic step that keeps the count and one per
-- user. The coupon goes to the room's claimed coupons in the layout of the core's
-- coupon_lib.lua, where orders use it.
-- KEYS[1] the room's batches       KEYS[2] claimed per batch (hash: id -> count)
-- KEYS[3] holders (hash: batch "\n" user -> coupon id)
-- KEYS[4] keyword said (hash: batch "\n" user -> 1)
-- KEYS[5] wallets (hash: user -> coupon ids, spaced)
-- KEYS[6] the room's claimed coupons (coupon_lib's layout)
-- KEYS[7] the room's outbox stream: a claim leaves coupon.claimed
-- ARGV[1] batch id         ARGV[2] user
-- Returns {answer, terms JSON or false, claimed, coupon JSON or false}: answer ok,
-- not_found, already_claimed (with the coupon held), claim_closed, not_started, coupon_gone
-- or not_eligible.
-- retry: lookup
-- A retry that finds the user holding a coupon of the batch answers ok with it: the first
-- attempt claimed it (or an earlier claim did: the user holds one either way).
local batch, user = ARGV[1], ARGV[2]
local raw = redis.call('HGET', KEYS[1], batch)
if not raw then return {'not_found', false, 0, false} end
local claimed = tonumber(redis.call('HGET', KEYS[2], batch) or '0')
local slot = batch .. '\n' .. user
local held = redis.call('HGET', KEYS[3], slot)
if held then
  return {RETRY and 'ok' or 'already_claimed', raw, claimed, redis.call('HGET', KEYS[6], held)}
end
local b = cjson.decode(raw)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local answer = 'ok'
if b['end'] > 0 and now >= b['end'] then
  answer = 'claim_closed'
elseif b.start > 0 and now < b.start then
  answer = 'not_started'
elseif claimed >= b.count then
  answer = 'coupon_gone'
elseif b.eligibility == 'keyword' and redis.call('HEXISTS', KEYS[4], slot) == 0 then
  answer = 'not_eligible'
end
if answer ~= 'ok' then return {answer, raw, claimed, false} end
claimed = redis.call('HINCRBY', KEYS[2], batch, 1)
local id = batch .. '-' .. claimed
local expires = b.valid_until
if b.valid_s > 0 and (expires == 0 or now + b.valid_s < expires) then
  expires = now + b.valid_s
end
local coupon = cjson.encode({id = id, batch = batch, user = user, kind = b.kind,
  value = b.value, cap = b.cap, min = b.min, sku = b.sku, from = now, ['until'] = expires,
  status = 'claimed', order = '', claimed = now})
redis.call('HSET', KEYS[6], id, coupon)
redis.call('HSET', KEYS[3], slot, id)
local mine = redis.call('HGET', KEYS[5], user)
redis.call('HSET', KEYS[5], user, mine and (mine .. ' ' .. id) or id)
outbox(KEYS[7], 'coupon.claimed', {coupon = id, batch = batch, user = user,
  left = b.count - claimed}, now)
return {'ok', raw, claimed, coupon}
