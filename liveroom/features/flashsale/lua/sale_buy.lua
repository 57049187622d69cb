-- Buy, for a batch of buyers of one sale in arrival order: for each, replay the stored answer
-- for its request id, or check the window, the user's limit and the stock (and the coupon,
-- when the buy names one) and then reserve. The whole batch is one atomic step, so stock is
-- never oversold and a coupon is used by one order at most.
-- uses: coupon_lib
-- retry: safe
-- KEYS[1] sale hash        KEYS[2] units held per user (hash: reserved + paid)
-- KEYS[3] orders (hash: id -> order JSON)    KEYS[4] order log (list of ids: the ledger)
-- KEYS[5] payment deadlines (zset: reserved order id -> ms)
-- KEYS[6] answers (hash: user "\n" request id -> answer JSON)
-- KEYS[7] the room's outbox stream: order.reserved per reservation, coupon.used per coupon
-- used, sale.sold_out when the batch takes the last unit
-- KEYS[8] the room's claimed coupons (coupon_lib)
-- ARGV[1] sale id, then four per buy: user, request id, quantity, coupon id ('' for none)
-- Returns four per buy: {code, answer JSON or false, stock left, 1 if it reserved else 0}.
-- code is ok, sold_out, limit_reached, not_started, ended, not_found, replay (the stored
-- answer again), or the coupon's refusal (coupon_lib: coupon_unknown, not_yours, coupon_used,
-- coupon_expired, not_applicable).
local out = {}
local s = redis.call('HMGET', KEYS[1], 'status', 'start', 'end', 'limit', 'stock', 'payment',
  'sku', 'price')
if not s[1] then
  for i = 2, #ARGV, 4 do
    out[#out + 1] = 'not_found'; out[#out + 1] = false; out[#out + 1] = 0; out[#out + 1] = 0
  end
  return out
end
local stock = tonumber(s[5])
local stock_before = stock
local limit, payment = tonumber(s[4]), tonumber(s[6])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start_ms, end_ms = tonumber(s[2]), tonumber(s[3])
local window = 'ok'
if s[1] == 'created' or (start_ms > 0 and now < start_ms) then
  window = 'not_started'
elseif s[1] == 'closed' or (end_ms > 0 and now >= end_ms) then
  window = 'ended'
end

local price = tonumber(s[8])

local function buy(user, request, qty, coupon)
  local key = user .. '\n' .. request
  local stored = redis.call('HGET', KEYS[6], key)
  if stored then return 'replay', stored, 0 end
  local code = window
  if code == 'ok' then
    if (tonumber(redis.call('HGET', KEYS[2], user)) or 0) + qty > limit then
      code = 'limit_reached'
    elseif stock < qty then
      code = 'sold_out'
    end
  end
  local discount = 0
  if code == 'ok' and coupon ~= '' then
    -- the id this order will get: the coupon records it in the same step
    local next_id = ARGV[1] .. '-' .. (tonumber(redis.call('HGET', KEYS[1], 'seq')) + 1)
    code, discount = coupon_use(KEYS[8], KEYS[7], coupon, user, s[7], price * qty, next_id, now)
  end
  if code ~= 'ok' then
    local answer = cjson.encode({status = code, quantity = qty})
    redis.call('HSET', KEYS[6], key, answer)
    return code, answer, 0
  end
  stock = redis.call('HINCRBY', KEYS[1], 'stock', -qty)
  redis.call('HINCRBY', KEYS[1], 'reserved', qty)
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  local id = ARGV[1] .. '-' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
  local deadline = now + payment
  redis.call('HSET', KEYS[3], id, cjson.encode({
    id = id, user = user, quantity = qty, status = 'reserved', deadline = deadline,
    request = request, created = now, price = price, discount = discount, coupon = coupon}))
  redis.call('RPUSH', KEYS[4], id)
  redis.call('ZADD', KEYS[5], deadline, id)
  redis.call('HINCRBY', KEYS[2], user, qty)
  outbox(KEYS[7], 'order.reserved', {order = id, sale = ARGV[1], sku = s[7], user = user,
    quantity = qty, price = price, discount = discount,
    coupon = coupon ~= '' and coupon or cjson.null, deadline = deadline / 1000,
    request_id = request}, now)
  local answer = cjson.encode({status = 'ok', order = id, deadline = deadline, quantity = qty,
    price = price, discount = discount, coupon = coupon})
  redis.call('HSET', KEYS[6], key, answer)
  return 'ok', answer, 1
end

for i = 2, #ARGV, 4 do
  local code, answer, fresh = buy(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3])
  out[#out + 1] = code; out[#out + 1] = answer; out[#out + 1] = stock; out[#out + 1] = fresh
end
if stock_before > 0 and stock <= 0 then
  outbox(KEYS[7], 'sale.sold_out', {sale = ARGV[1], sku = s[7]}, now)
end
return out
