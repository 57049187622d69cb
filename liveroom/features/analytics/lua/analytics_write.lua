-- Add one node's analytics batch to its room, and keep every key of it ARGV[2] seconds more.
-- KEYS[1] meta hash (first, last, host)     KEYS[2] users hash (user -> profile JSON)
-- KEYS[3] intervals hash (user -> "start,end;..." closed intervals)
-- KEYS[4] open hash ("<node>|<user>" -> start)   KEYS[5] nodes hash (node -> last write)
-- KEYS[6] counts hash                       KEYS[7] marks hash ("<name>|<user>" -> 1)
-- KEYS[8] pinned hash (sku -> pin start)    KEYS[9] pins hash ("<sku>|<start>" -> end)
-- ARGV[1] the batch as JSON, every value a string: now, node, host, users [u, profile, ...],
--         closed [u, start, end, ...], closes [u, ...], opens [u, start, ...],
--         counts [name, n, ...], marks [name, u, ...], boards [[at, sku, sku, ...], ...],
--         paid [order, u, sku, units, cents, hour, ...] (each order counted once, ever)
-- ARGV[2] keep seconds
local b = cjson.decode(ARGV[1])
local now = b.now
redis.call('HSETNX', KEYS[1], 'first', now)
redis.call('HSET', KEYS[1], 'last', now)
if b.host ~= '' then
  redis.call('HSET', KEYS[1], 'host', b.host)
end
for i = 1, #b.users, 2 do
  redis.call('HSETNX', KEYS[2], b.users[i], b.users[i + 1])
end
for i = 1, #b.closed, 3 do
  local user = b.closed[i]
  local old = redis.call('HGET', KEYS[3], user) or ''
  redis.call('HSET', KEYS[3], user, old .. b.closed[i + 1] .. ',' .. b.closed[i + 2] .. ';')
end
for _, user in ipairs(b.closes) do
  redis.call('HDEL', KEYS[4], b.node .. '|' .. user)
end
for i = 1, #b.opens, 2 do
  redis.call('HSET', KEYS[4], b.node .. '|' .. b.opens[i], b.opens[i + 1])
end
redis.call('HSET', KEYS[5], b.node, now)
for i = 1, #b.counts, 2 do
  redis.call('HINCRBY', KEYS[6], b.counts[i], b.counts[i + 1])
end
for i = 1, #b.marks, 2 do
  if redis.call('HSETNX', KEYS[7], b.marks[i] .. '|' .. b.marks[i + 1], 1) == 1 then
    redis.call('HINCRBY', KEYS[6], 'n:' .. b.marks[i], 1)
  end
end
for i = 1, #b.paid, 6 do
  if redis.call('HSETNX', KEYS[7], 'order|' .. b.paid[i], 1) == 1 then
    local user, sku, units, cents = b.paid[i + 1], b.paid[i + 2], b.paid[i + 3], b.paid[i + 4]
    redis.call('HINCRBY', KEYS[6], 'orders:' .. sku, 1)
    redis.call('HINCRBY', KEYS[6], 'units:' .. sku, units)
    redis.call('HINCRBY', KEYS[6], 'gmv:' .. sku, cents)
    redis.call('HINCRBY', KEYS[6], 'h:' .. b.paid[i + 5] .. ':gmv', cents)
    if redis.call('HSETNX', KEYS[7], 'paid:' .. sku .. '|' .. user, 1) == 1 then
      redis.call('HINCRBY', KEYS[6], 'n:paid:' .. sku, 1)
    end
  end
end
for _, board in ipairs(b.boards) do
  local at, shown = board[1], {}
  for j = 2, #board do
    shown[board[j]] = true
  end
  local pinned = redis.call('HGETALL', KEYS[8])
  for j = 1, #pinned, 2 do
    if not shown[pinned[j]] then
      redis.call('HSET', KEYS[9], pinned[j] .. '|' .. pinned[j + 1], at)
      redis.call('HDEL', KEYS[8], pinned[j])
    end
  end
  for j = 2, #board do
    redis.call('HSETNX', KEYS[8], board[j], at)
  end
end
for i = 1, #KEYS do
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
return 1
