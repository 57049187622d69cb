-- Expire reserved orders whose payment deadline has passed, giving back stock, quota and
-- coupon: the core's order_expire (order_lib.lua).
-- Safe when many nodes sweep at once: an order leaves the deadline set in the same step that
-- releases it, so exactly one run releases it.
-- uses: order_lib
-- retry: safe
-- KEYS[1] sale hash        KEYS[2] units held per user      KEYS[3] orders
-- KEYS[4] payment deadlines                              KEYS[5] the room's outbox stream
-- KEYS[6] the room's claimed coupons (coupon_lib)
-- ARGV[1] most orders to expire in this call               ARGV[2] sale id
-- Each expired order leaves an order.expired event; its coupon, if it used one, comes back
-- (coupon.returned).
-- Returns {orders expired, stock left, 1 when the sale takes no more buys and holds no
-- reserved orders (sweepers may forget it), else 0}.
local s = redis.call('HMGET', KEYS[1], 'status', 'end')
if not s[1] then return {0, 0, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function data(o)
  return {order = o.id, sale = ARGV[2], user = o.user, quantity = o.quantity}
end
local expired = order_expire(KEYS, ARGV[1], data, now)
if expired > 0 then redis.call('HINCRBY', KEYS[1], 'version', 1) end
local end_ms = tonumber(s[2])
local over = s[1] == 'closed' or (end_ms > 0 and now >= end_ms)
local done = 0
if over and redis.call('ZCARD', KEYS[4]) == 0 then done = 1 end
return {expired, tonumber(redis.call('HGET', KEYS[1], 'stock')), done}
