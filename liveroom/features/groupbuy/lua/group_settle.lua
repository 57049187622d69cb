-- Confirm (paid) or cancel one order of a formed group, as sale_settle.lua does for a flash
-- sale. A reserved order past its payment deadline expires first: the deadline decides, not
-- the caller. Stock, quota and the order's coupon go back exactly once.
-- uses: coupon_lib
-- KEYS[1] deal hash        KEYS[2] units held per user      KEYS[3] orders
-- KEYS[4] payment deadlines                              KEYS[5] the room's outbox stream
-- KEYS[6] the room's claimed coupons (coupon_lib)
-- ARGV[1] order id         ARGV[2] confirm or cancel        ARGV[3] owner required ('' = any)
-- ARGV[4] deal id
-- Each change leaves its event: order.paid, order.cancelled or order.expired (and
-- coupon.returned when a released order had used a coupon).
-- Returns {code, order JSON or false, stock left, 1 if stock came back in this call else 0};
-- code is ok, not_found, or conflict (confirming an order no longer reserved, cancelling a
-- paid one).
-- retry: lookup
-- Confirming or cancelling again changes nothing and answers ok; a retry of a cancel that finds
-- the order cancelled also says the stock came back (its first attempt gave it back, or an
-- earlier cancel did: either way, viewers may be told the stock again).
local raw = redis.call('HGET', KEYS[3], ARGV[1])
if not raw then return {'not_found', false, 0, 0} end
local o = cjson.decode(raw)
if ARGV[3] ~= '' and o.user ~= ARGV[3] then return {'not_found', false, 0, 0} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local moved = 0
local function event(status)
  outbox(KEYS[5], 'order.' .. status, {order = o.id, deal = ARGV[4], group = o.group,
    user = o.user, quantity = o.quantity}, now)
end
local function release(status)
  redis.call('HINCRBY', KEYS[1], 'stock', o.quantity)
  redis.call('HINCRBY', KEYS[1], 'reserved', -o.quantity)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  if redis.call('HINCRBY', KEYS[2], o.user, -o.quantity) <= 0 then
    redis.call('HDEL', KEYS[2], o.user)
  end
  redis.call('ZREM', KEYS[4], o.id)
  o.status = status
  moved = 1
  event(status)
  if o.coupon and o.coupon ~= '' then
    coupon_return(KEYS[6], KEYS[5], o.coupon, o.id, status, now)
  end
end
if o.status == 'reserved' and now >= o.deadline then release('expired') end
local code = 'ok'
if ARGV[2] == 'confirm' then
  if o.status == 'reserved' then
    redis.call('HINCRBY', KEYS[1], 'reserved', -o.quantity)
    redis.call('HINCRBY', KEYS[1], 'paid', o.quantity)
    redis.call('HINCRBY', KEYS[1], 'version', 1)
    redis.call('ZREM', KEYS[4], o.id)
    o.status = 'paid'
    event('paid')
  elseif o.status ~= 'paid' then
    code = 'conflict'
  end
elseif o.status == 'reserved' then
  release('cancelled')
elseif o.status == 'paid' then
  code = 'conflict'
elseif RETRY and o.status == 'cancelled' then
  moved = 1
end
raw = cjson.encode(o)
redis.call('HSET', KEYS[3], ARGV[1], raw)
return {code, raw, tonumber(redis.call('HGET', KEYS[1], 'stock')), moved}
