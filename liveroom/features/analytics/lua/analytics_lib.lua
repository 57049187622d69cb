-- Shared head of analytics_write.lua (one room) and analytics_write_rooms.lua (many rooms in
-- one call): write_room adds one node's batch to its room, and keeps every key of the room
-- ``keep`` seconds more.
-- base: the room's keys are meta .. boards, in this order:
--   meta hash (first, last, host); users hash (user -> "<first join>|<profile JSON>": the
--   earliest join reported wins); intervals hash (user -> "start,end;..." closed intervals);
--   open hash ("<node>|<user>" -> start); nodes hash (node -> last write); counts hash;
--   marks hash ("<name>|<user>" -> 1); boards hash (card board version -> "<time>|<sku>,...")
-- json: the batch, every value a string: now, node, host,
--   users [u, first join here, profile, ...],
--   closed [u, start, end, ...], closes [u, ...], opens [u, start, ...],
--   counts [name, n, ...], marks [name, u, ...], boards [version, board, ...],
--   paid [order, u, sku, units, cents, hour, ...] (each order counted once, ever);
--   a list left out is empty
-- A retry (RETRY: both scripts say ``retry: lookup``) finds its first attempt's mark, the
-- node's last write at the batch's own ``now`` (the nodes hash), and adds nothing more.
local BATCH_LISTS = {'users', 'closed', 'closes', 'opens', 'counts', 'marks', 'paid', 'boards'}
local NONE = {}  -- a list the batch left out: only ever read

local function write_room(base, json, keep)
  local meta, users, iv, open = KEYS[base + 1], KEYS[base + 2], KEYS[base + 3], KEYS[base + 4]
  local nodes, counts = KEYS[base + 5], KEYS[base + 6]
  local marks, boards = KEYS[base + 7], KEYS[base + 8]
  local b = cjson.decode(json)
  for _, part in ipairs(BATCH_LISTS) do
    if b[part] == nil then b[part] = NONE end
  end
  local now = b.now
  if RETRY and redis.call('HGET', nodes, b.node) == tostring(now) then return 1 end
  redis.call('HSETNX', meta, 'first', now)
  redis.call('HSET', meta, 'last', now)
  if b.host ~= '' then
    redis.call('HSET', meta, 'host', b.host)
  end
  for i = 1, #b.users, 3 do
    local old = redis.call('HGET', users, b.users[i])
    if not old or tonumber(string.match(old, '^[^|]+')) > tonumber(b.users[i + 1]) then
      redis.call('HSET', users, b.users[i], b.users[i + 1] .. '|' .. b.users[i + 2])
    end
  end
  for i = 1, #b.closed, 3 do
    local user = b.closed[i]
    local old = redis.call('HGET', iv, user) or ''
    redis.call('HSET', iv, user, old .. b.closed[i + 1] .. ',' .. b.closed[i + 2] .. ';')
  end
  for _, user in ipairs(b.closes) do
    redis.call('HDEL', open, b.node .. '|' .. user)
  end
  for i = 1, #b.opens, 2 do
    redis.call('HSET', open, b.node .. '|' .. b.opens[i], b.opens[i + 1])
  end
  redis.call('HSET', nodes, b.node, now)
  for i = 1, #b.counts, 2 do
    redis.call('HINCRBY', counts, b.counts[i], b.counts[i + 1])
  end
  for i = 1, #b.marks, 2 do
    if redis.call('HSETNX', marks, b.marks[i] .. '|' .. b.marks[i + 1], 1) == 1 then
      redis.call('HINCRBY', counts, 'n:' .. b.marks[i], 1)
    end
  end
  for i = 1, #b.paid, 6 do
    if redis.call('HSETNX', marks, 'order|' .. b.paid[i], 1) == 1 then
      local user, sku, units, cents = b.paid[i + 1], b.paid[i + 2], b.paid[i + 3], b.paid[i + 4]
      redis.call('HINCRBY', counts, 'orders:' .. sku, 1)
      redis.call('HINCRBY', counts, 'units:' .. sku, units)
      redis.call('HINCRBY', counts, 'gmv:' .. sku, cents)
      redis.call('HINCRBY', counts, 'h:' .. b.paid[i + 5] .. ':gmv', cents)
      if redis.call('HSETNX', marks, 'paid:' .. sku .. '|' .. user, 1) == 1 then
        redis.call('HINCRBY', counts, 'n:paid:' .. sku, 1)
      end
    end
  end
  for i = 1, #b.boards, 2 do
    redis.call('HSET', boards, b.boards[i], b.boards[i + 1])
  end
  for i = base + 1, base + 8 do
    redis.call('EXPIRE', KEYS[i], keep)
  end
  return 1
end
