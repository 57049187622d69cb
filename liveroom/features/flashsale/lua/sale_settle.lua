-- Confirm (paid) or cancel one order: the core's order_settle (order_lib.lua). A reserved order
-- past its payment deadline expires first: the deadline decides, not the caller. Stock, quota
-- and the order's coupon go back exactly once.
-- uses: order_lib
-- KEYS[1] sale hash        KEYS[2] units held per user      KEYS[3] orders
-- KEYS[4] payment deadlines                              KEYS[5] the room's outbox stream
-- KEYS[6] the room's claimed coupons (coupon_lib)
-- ARGV[1] order id         ARGV[2] confirm or cancel        ARGV[3] owner required ('' = any)
-- ARGV[4] sale id
-- Each change leaves its event: order.paid, order.cancelled or order.expired (and
-- coupon.returned when a released order had used a coupon).
-- Returns {code, order JSON or false, stock left, 1 if stock came back in this call else 0};
-- code is ok, not_found, or conflict (confirming an order no longer reserved, cancelling a
-- paid one).
-- retry: lookup
-- Confirming or cancelling again changes nothing and answers ok; a retry of a cancel that finds
-- the order cancelled also says the stock came back (its first attempt gave it back, or an
-- earlier cancel did: either way, viewers may be told the stock again).
local function data(o)
  return {order = o.id, sale = ARGV[4], user = o.user, quantity = o.quantity}
end
return order_settle(KEYS, ARGV[1], ARGV[2], ARGV[3], data)
