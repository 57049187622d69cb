-- Fail open groups whose time is up (every open group, once the deal is closed) and expire
-- formed groups' orders past their payment deadline, giving back stock and quota. Safe when
-- many nodes sweep at once: a group or an order leaves its deadline set in the same step that
-- releases it, so exactly one run releases it. An expired order's coupon comes back with it
-- (the core's order_expire, order_lib.lua).
-- uses: order_lib
-- retry: safe
-- KEYS[1] deal hash        KEYS[2] units held per user      KEYS[3] groups
-- KEYS[4] open groups      KEYS[5] fill deadlines           KEYS[6] orders
-- KEYS[7] payment deadlines                                KEYS[8] the room's outbox stream
-- KEYS[9] the room's claimed coupons (coupon_lib)
-- ARGV[1] most groups, and most orders, to release in this call    ARGV[2] deal id
-- Each failed group leaves a group.failed event, each expired order an order.expired one (and
-- coupon.returned when it had used a coupon). A failed group's places used no coupon: a
-- coupon named at join is used only when the group forms.
-- Returns {failed group JSONs, orders expired, stock left, 1 when the deal takes no more
-- places and holds no open group or reserved order (sweepers may forget it), else 0}.
local d = redis.call('HMGET', KEYS[1], 'status', 'end', 'sku')
if not d[1] then return {{}, 0, 0, 1} end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local closed = d[1] == 'closed'
local reason = closed and 'closed' or 'expired'
local late
if closed then
  late = redis.call('ZRANGE', KEYS[5], 0, tonumber(ARGV[1]) - 1)
else
  late = redis.call('ZRANGEBYSCORE', KEYS[5], '-inf', now, 'LIMIT', 0, ARGV[1])
end
local failed = {}
for _, gid in ipairs(late) do
  redis.call('ZREM', KEYS[5], gid)
  redis.call('ZREM', KEYS[4], gid)
  local g = cjson.decode(redis.call('HGET', KEYS[3], gid))
  local units, users = 0, {}
  for _, m in ipairs(g.members) do
    if redis.call('HINCRBY', KEYS[2], m.user, -m.quantity) <= 0 then
      redis.call('HDEL', KEYS[2], m.user)
    end
    units = units + m.quantity
    users[#users + 1] = m.user
  end
  g.status = 'failed'
  g.closed = now
  g.reason = reason
  local raw = cjson.encode(g)
  redis.call('HSET', KEYS[3], gid, raw)
  redis.call('HINCRBY', KEYS[1], 'stock', units)
  redis.call('HINCRBY', KEYS[1], 'held', -units)
  redis.call('HINCRBY', KEYS[1], 'failed', 1)
  outbox(KEYS[8], 'group.failed', {group = gid, deal = ARGV[2], sku = d[3], members = users,
    reason = reason, units = units}, now)
  failed[#failed + 1] = raw
end
local function data(o)
  return {order = o.id, deal = ARGV[2], group = o.group, user = o.user, quantity = o.quantity}
end
local expired = order_expire({KEYS[1], KEYS[2], KEYS[6], KEYS[7], KEYS[8], KEYS[9]}, ARGV[1],
  data, now)
if #failed > 0 or expired > 0 then redis.call('HINCRBY', KEYS[1], 'version', 1) end
local end_ms = tonumber(d[2])
local over = closed or (end_ms > 0 and now >= end_ms)
local done = 0
if over and redis.call('ZCARD', KEYS[5]) == 0 and redis.call('ZCARD', KEYS[7]) == 0 then
  done = 1
end
return {failed, expired, tonumber(redis.call('HGET', KEYS[1], 'stock')), done}
