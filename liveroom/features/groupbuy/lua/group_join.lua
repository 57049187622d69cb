-- Take a place in a group, for a batch of places of one deal in arrival order: start one, join
-- a given one, or be matched into the fullest open one the user is not in. Every check and the
-- move of stock are one atomic step, so a group never holds more than its size, a user is never
-- twice in one, and nobody goes over the limit. A place may name one of the user's claimed
-- coupons: it is checked here (coupon_lib's coupon_check, changing nothing) and used by the
-- member's order when the group forms. The place that fills a group forms it: each member's
-- place becomes a reserved order at the group price, less its coupon's discount when the
-- coupon can still be used then (else the order is reserved without it and says why:
-- coupon_refused). A (user, request id) seen before gets its stored answer again.
-- uses: coupon_lib
-- retry: safe
-- KEYS[1] deal hash        KEYS[2] units held per user (open places + reserved + paid)
-- KEYS[3] groups (hash: id -> group JSON)
-- KEYS[4] open groups (zset, match order: most members first, then earliest deadline)
-- KEYS[5] fill deadlines (zset: open group id -> ms)
-- KEYS[6] orders (hash: id -> order JSON)    KEYS[7] payment deadlines (zset: order -> ms)
-- KEYS[8] answers (hash: user "\n" request id -> answer JSON)
-- KEYS[9] the room's outbox stream: order.reserved per member (and coupon.used per coupon used)
-- and group.formed on a fill
-- KEYS[10] the room's claimed coupons (coupon_lib)
-- ARGV[1] deal id, then seven per place asked, in arrival order: start, join or match; user;
-- name; quantity; request id; group id (join) or ''; coupon id or ''. A batch of places is one
-- atomic step, each taken as if alone, one after another (a lone place: eight ARGV in all).
-- Returns eight per place: {code, group JSON or false, stock left, 1 if it took a place else 0,
-- 1 if that place formed the group else 0, quantity, coupon, discount}: discount is what the
-- coupon takes off this place's order at the group price, as checked when the place was taken.
-- code is ok, not_found, not_started, ended, no_group, group_full, group_not_open,
-- already_in_group, no_open_group, limit_reached, sold_out, or the coupon's refusal
-- (coupon_unknown, not_yours, coupon_used, coupon_expired, not_applicable).
local deal = ARGV[1]
local out = {}
local d = redis.call('HMGET', KEYS[1], 'status', 'start', 'end', 'limit', 'stock', 'size',
  'fill', 'payment', 'sku', 'price')
if not d[1] then
  for i = 2, #ARGV, 7 do
    for _, v in ipairs({'not_found', false, 0, 0, 0, tonumber(ARGV[i + 3]), ARGV[i + 6], 0}) do
      out[#out + 1] = v
    end
  end
  return out
end
local stock = tonumber(d[5])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function take(mode, user, name, qty, request, gid, coupon)
  local key = user .. '\n' .. request
  local stored = redis.call('HGET', KEYS[8], key)
  if stored then
    local a = cjson.decode(stored)
    local g = a.group ~= '' and redis.call('HGET', KEYS[3], a.group) or false
    return {a.status, g, stock, 0, 0, a.quantity, a.coupon or '', a.discount or 0}
  end

  local function answer(code, group_id, off)
    redis.call('HSET', KEYS[8], key, cjson.encode({status = code, group = group_id,
      quantity = qty, coupon = coupon, discount = off}))
  end
  local function refuse(code)
    answer(code, gid, 0)
    local g = gid ~= '' and redis.call('HGET', KEYS[3], gid) or false
    return {code, g, stock, 0, 0, qty, coupon, 0}
  end
  local function has(g)
    for _, m in ipairs(g.members) do
      if m.user == user then return true end
    end
    return false
  end

  local start_ms, end_ms = tonumber(d[2]), tonumber(d[3])
  if d[1] == 'created' or (start_ms > 0 and now < start_ms) then return refuse('not_started') end
  if d[1] == 'closed' or (end_ms > 0 and now >= end_ms) then return refuse('ended') end
  local group
  if mode == 'join' then
    local raw = redis.call('HGET', KEYS[3], gid)
    if not raw then return refuse('no_group') end
    group = cjson.decode(raw)
    if group.status == 'formed' then return refuse('group_full') end
    if group.status == 'failed' or now >= group.deadline then return refuse('group_not_open') end
    if has(group) then return refuse('already_in_group') end
  elseif mode == 'match' then
    -- a score is deadline - members * 1e13 (see the ZADD below): groups whose time is up (not
    -- swept yet) are skipped from their score alone; only live ones are read, for membership
    local from = 0
    while not group do
      local page = redis.call('ZRANGE', KEYS[4], from, from + 31, 'WITHSCORES')
      if #page == 0 then break end
      for i = 1, #page, 2 do
        local score = tonumber(page[i + 1])
        if score + math.floor((1e13 - score) / 1e13) * 1e13 > now then
          local g = cjson.decode(redis.call('HGET', KEYS[3], page[i]))
          if not has(g) then
            group = g
            break
          end
        end
      end
      from = from + 32
    end
    if not group then return refuse('no_open_group') end
  end
  if (tonumber(redis.call('HGET', KEYS[2], user)) or 0) + qty > tonumber(d[4]) then
    return refuse('limit_reached')
  end
  if stock < qty then return refuse('sold_out') end
  local off = 0
  if coupon ~= '' then
    local checked
    checked, off = coupon_check(KEYS[10], coupon, user, d[9], tonumber(d[10]) * qty, now)
    if checked ~= 'ok' then return refuse(checked) end
  end

  if not group then
    local n = redis.call('HINCRBY', KEYS[1], 'groups', 1)
    local deadline = now + tonumber(d[7])
    if end_ms > 0 and end_ms < deadline then deadline = end_ms end
    group = {id = deal .. '-g' .. n, size = tonumber(d[6]), status = 'open', members = {},
      created = now, deadline = deadline, closed = 0, reason = ''}
    redis.call('ZADD', KEYS[5], deadline, group.id)
  end
  group.members[#group.members + 1] = {user = user, name = name, quantity = qty,
    request = request, at = now, order = '', coupon = coupon}
  redis.call('HINCRBY', KEYS[2], user, qty)
  stock = redis.call('HINCRBY', KEYS[1], 'stock', -qty)
  redis.call('HINCRBY', KEYS[1], 'held', qty)
  redis.call('HINCRBY', KEYS[1], 'version', 1)

  local formed = 0
  if #group.members >= group.size then
    formed = 1
    local price, payment = tonumber(d[10]), tonumber(d[8])
    local units, orders, users = 0, {}, {}
    for _, m in ipairs(group.members) do
      local id = deal .. '-o' .. redis.call('HINCRBY', KEYS[1], 'orders', 1)
      local deadline = now + payment
      -- the coupon named at join, if it can still be used (not used elsewhere meanwhile, not
      -- expired): the order uses it in this step, or is reserved at the full group price
      local used, discount, refused = '', 0, ''
      if m.coupon and m.coupon ~= '' then
        local code
        code, discount = coupon_use(KEYS[10], KEYS[9], m.coupon, m.user, d[9],
          price * m.quantity, id, now)
        if code == 'ok' then used = m.coupon else refused = code end
      end
      m.order = id
      redis.call('HSET', KEYS[6], id, cjson.encode({id = id, group = group.id, user = m.user,
        quantity = m.quantity, price = price, discount = discount, coupon = used,
        coupon_refused = refused, status = 'reserved', deadline = deadline, request = m.request,
        created = now}))
      redis.call('ZADD', KEYS[7], deadline, id)
      outbox(KEYS[9], 'order.reserved', {order = id, deal = deal, group = group.id, sku = d[9],
        user = m.user, quantity = m.quantity, price = price, discount = discount,
        coupon = used ~= '' and used or cjson.null,
        coupon_refused = refused ~= '' and refused or cjson.null,
        deadline = deadline / 1000, request_id = m.request}, now)
      units = units + m.quantity
      orders[m.user] = id
      users[#users + 1] = m.user
    end
    group.status = 'formed'
    group.closed = now
    redis.call('ZREM', KEYS[4], group.id)
    redis.call('ZREM', KEYS[5], group.id)
    redis.call('HINCRBY', KEYS[1], 'held', -units)
    redis.call('HINCRBY', KEYS[1], 'reserved', units)
    redis.call('HINCRBY', KEYS[1], 'formed', 1)
    outbox(KEYS[9], 'group.formed', {group = group.id, deal = deal, sku = d[9], price = price,
      members = users, orders = orders}, now)
  else
    -- match order as one score: fewer members sort later, then a later deadline
    redis.call('ZADD', KEYS[4], string.format('%d', group.deadline - #group.members * 1e13),
      group.id)
  end
  local raw = cjson.encode(group)
  redis.call('HSET', KEYS[3], group.id, raw)
  answer('ok', group.id, off)
  return {'ok', raw, stock, 1, formed, qty, coupon, off}
  end

  for i = 2, #ARGV, 7 do
    local reply = take(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), ARGV[i + 4],
      ARGV[i + 5], ARGV[i + 6])
    for j = 1, 8 do out[#out + 1] = reply[j] end
end
return out
