-- Shared head of every script that settles a reserved order: confirm (paid), cancel, expiry.
-- Put in front of each script that says "-- uses: order_lib" (``USES`` in
-- liveroom/engine/scripts.py), after coupon_lib, which it uses to give a coupon back. The
-- memory engine's twin is ``MemoryOrders`` in liveroom/engine/orders.py: the same steps, the
-- same answers, the same events.
-- uses: coupon_lib
--
-- A flash sale and a group deal keep their orders alike, each under the room's hash tag, so a
-- settle is one atomic step on one Cluster slot. ``k`` is a table of six key names, in this
-- order (a script whose KEYS start with these six passes KEYS itself):
--   k[1] the owner's hash (sale or deal: stock, reserved, paid, version)
--   k[2] units held per user (hash)     k[3] orders (hash: id -> order JSON)
--   k[4] payment deadlines (zset: reserved order id -> ms)
--   k[5] the room's outbox stream       k[6] the room's claimed coupons (coupon_lib)
-- An order is JSON with at least {id, user, quantity, status, deadline, coupon}; status is
-- reserved, paid, cancelled or expired. ``data(o)`` is the feature's order.* event body for
-- order ``o`` (it names the sale, or the deal and the group); it is called once per event.

-- Give a reserved order's units back to the owner's stock and the user's quota, with its
-- coupon; the order becomes ``status`` (cancelled or expired) and order.<status> is in the
-- outbox (and coupon.returned when a coupon came back). The caller stores ``o`` and moves the
-- owner's version.
local function order_release(k, o, status, data, now)
  redis.call('HINCRBY', k[1], 'stock', o.quantity)
  redis.call('HINCRBY', k[1], 'reserved', -o.quantity)
  if redis.call('HINCRBY', k[2], o.user, -o.quantity) <= 0 then
    redis.call('HDEL', k[2], o.user)
  end
  o.status = status
  outbox(k[5], 'order.' .. status, data(o), now)
  if o.coupon and o.coupon ~= '' then
    coupon_return(k[6], k[5], o.coupon, o.id, status, now)
  end
end

-- Confirm (``action`` 'confirm': paid) or cancel order ``id``; ``owner`` ('' for any) must be
-- the order's user. A reserved order past its payment deadline expires first: the deadline
-- decides, not the caller. Stock, quota and coupon go back exactly once.
-- Returns the script's reply: {code, order JSON or false, stock left, 1 if stock came back in
-- this call else 0}; code is ok, not_found, or conflict (confirming an order no longer
-- reserved, cancelling a paid one).
local function order_settle(k, id, action, owner, data)
  local raw = redis.call('HGET', k[3], id)
  if not raw then return {'not_found', false, 0, 0} end
  local o = cjson.decode(raw)
  if owner ~= '' and o.user ~= owner then return {'not_found', false, 0, 0} end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local moved = 0
  local function release(status)
    redis.call('HINCRBY', k[1], 'version', 1)
    redis.call('ZREM', k[4], o.id)
    order_release(k, o, status, data, now)
    moved = 1
  end
  if o.status == 'reserved' and now >= o.deadline then release('expired') end
  local code = 'ok'
  if action == 'confirm' then
    if o.status == 'reserved' then
      redis.call('HINCRBY', k[1], 'reserved', -o.quantity)
      redis.call('HINCRBY', k[1], 'paid', o.quantity)
      redis.call('HINCRBY', k[1], 'version', 1)
      redis.call('ZREM', k[4], o.id)
      o.status = 'paid'
      outbox(k[5], 'order.paid', data(o), now)
    elseif o.status ~= 'paid' then
      code = 'conflict'
    end
  elseif o.status == 'reserved' then
    release('cancelled')
  elseif o.status == 'paid' then
    code = 'conflict'
  end
  raw = cjson.encode(o)
  redis.call('HSET', k[3], id, raw)
  return {code, raw, tonumber(redis.call('HGET', k[1], 'stock')), moved}
end

-- Expire up to ``batch`` reserved orders whose payment deadline is before ``now`` (ms), each
-- released as ``order_release`` does. Safe when many nodes sweep at once: an order leaves the
-- deadline set in the same step that releases it, so exactly one run releases it. Returns how
-- many expired; the caller moves the owner's version when any did.
local function order_expire(k, batch, data, now)
  local expired = 0
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', k[4], '-inf', now, 'LIMIT', 0, batch)) do
    redis.call('ZREM', k[4], id)
    local raw = redis.call('HGET', k[3], id)
    if raw then
      local o = cjson.decode(raw)
      if o.status == 'reserved' then
        order_release(k, o, 'expired', data, now)
        redis.call('HSET', k[3], id, cjson.encode(o))
        expired = expired + 1
      end
    end
  end
  return expired
end
