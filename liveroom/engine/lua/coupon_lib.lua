-- Shared head of every script that uses a claimed coupon or gives one back: prepended to each
-- script that says "-- uses: coupon_lib" (``USES`` in liveroom/engine/scripts.py). The memory
-- engine's twin is ``MemoryCoupons`` in liveroom/engine/coupons.py: the same checks, the same
-- answers, the same events.
--
-- A room's claimed coupons live in one hash, ``<prefix>:{room:<id>}:coupons`` (coupon id ->
-- JSON), under the room's hash tag like everything a sale or a group touches, so a buy, a
-- settle or a sweep uses or returns a coupon in its own atomic step, on one Cluster slot. A
-- coupon carries its batch's terms, so using it reads nothing else:
--   {id, batch, user, kind ('amount' or 'percent'), value (fen, or percent off), cap (fen,
--    0: none), min (fen the order must reach, 0: none), sku ('' for any), from, until (ms,
--    until 0: no end), status ('claimed' or 'used'), order ('' unless used), claimed (ms)}

-- What ``c`` takes off an order worth ``gross`` fen: never more than the order (a price never
-- goes below zero), never more than a percent coupon's cap.
local function coupon_discount(c, gross)
  local off = c.value
  if c.kind == 'percent' then
    off = math.floor(gross * c.value / 100)
    if c.cap > 0 and off > c.cap then off = c.cap end
  end
  if off > gross then off = gross end
  return off
end

-- Whether ``user`` may use coupon ``id`` now (``now``, ms) on an order worth ``gross`` fen of
-- ``sku``, changing nothing. Returns {answer, discount, the coupon or nil}: 'ok' with what it
-- would take off, else coupon_unknown, not_yours, coupon_used, coupon_expired or
-- not_applicable (not valid yet, another sku, under the minimum spend).
local function coupon_check(key, id, user, sku, gross, now)
  local raw = redis.call('HGET', key, id)
  if not raw then return 'coupon_unknown', 0, nil end
  local c = cjson.decode(raw)
  if c.user ~= user then return 'not_yours', 0, c end
  if c.status == 'used' then return 'coupon_used', 0, c end
  if c['until'] > 0 and now >= c['until'] then return 'coupon_expired', 0, c end
  if now < c.from or (c.sku ~= '' and c.sku ~= sku) or gross < c.min then
    return 'not_applicable', 0, c
  end
  return 'ok', coupon_discount(c, gross), c
end

-- Use coupon ``id`` of ``user`` on order ``order`` (worth ``gross`` fen, of ``sku``) at ``now``
-- (ms). Returns {answer, discount}: 'ok' (the coupon is now used by the order and a
-- coupon.used event is in the outbox ``outbox_key``), else ``coupon_check``'s refusal, which
-- changed nothing.
local function coupon_use(key, outbox_key, id, user, sku, gross, order, now)
  local answer, off, c = coupon_check(key, id, user, sku, gross, now)
  if answer ~= 'ok' then return answer, 0 end
  c.status = 'used'
  c.order = order
  redis.call('HSET', key, id, cjson.encode(c))
  outbox(outbox_key, 'coupon.used', {coupon = id, batch = c.batch, user = user, order = order,
    discount = off}, now)
  return 'ok', off
end

-- Give coupon ``id`` back from order ``order``, which was cancelled or expired (``reason``).
-- Only the order that used it gives it back, and only once: the coupon is claimed again (still
-- bound by its validity) and a coupon.returned event is in the outbox. Returns 1 when it came
-- back in this call, else 0.
local function coupon_return(key, outbox_key, id, order, reason, now)
  local raw = redis.call('HGET', key, id)
  if not raw then return 0 end
  local c = cjson.decode(raw)
  if c.status ~= 'used' or c.order ~= order then return 0 end
  c.status = 'claimed'
  c.order = ''
  redis.call('HSET', key, id, cjson.encode(c))
  outbox(outbox_key, 'coupon.returned', {coupon = id, batch = c.batch, user = c.user,
    order = order, reason = reason}, now)
  return 1
end
