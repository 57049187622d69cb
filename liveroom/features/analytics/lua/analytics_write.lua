-- Add one node's analytics batch to its room, and keep every key of it ARGV[2] seconds more.
-- KEYS[1] meta hash (first, last, host)
-- KEYS[2] users hash (user -> "<first join>|<profile JSON>": the earliest join reported wins)
-- KEYS[3] intervals hash (user -> "start,end;..." closed intervals)
-- KEYS[4] open hash ("<node>|<user>" -> start)   KEYS[5] nodes hash (node -> last write)
-- KEYS[6] counts hash                       KEYS[7] marks hash ("<name>|<user>" -> 1)
-- KEYS[8] boards hash (card board version -> "<time>|<sku>,<sku>,...")
-- ARGV[1] the batch as JSON, every value a string: now, node, host,
--         users [u, first join here, profile, ...],
--         closed [u, start, end, ...], closes [u, ...], opens [u, start, ...],
--         counts [name, n, ...], marks [name, u, ...], boards [version, board, ...],
--         paid [order, u, sku, units, cents, hour, ...] (each order counted once, ever);
--         a list left out is empty
-- ARGV[2] keep seconds
-- retry: lookup
-- A retry finds its first attempt's mark, the node's last write at the batch's own ``now``
-- (KEYS[5]), and adds nothing more.
local b = cjson.decode(ARGV[1])
local none = {}
for _, part in ipairs({'users', 'closed', 'closes', 'opens', 'counts', 'marks', 'paid', 'boards'}) do
  if b[part] == nil then b[part] = none end
end
local now = b.now
if RETRY and redis.call('HGET', KEYS[5], b.node) == tostring(now) then return 1 end
redis.call('HSETNX', KEYS[1], 'first', now)
redis.call('HSET', KEYS[1], 'last', now)
if b.host ~= '' then
  redis.call('HSET', KEYS[1], 'host', b.host)
end
for i = 1, #b.users, 3 do
  local old = redis.call('HGET', KEYS[2], b.users[i])
  if not old or tonumber(string.match(old, '^[^|]+')) > tonumber(b.users[i + 1]) then
    redis.call('HSET', KEYS[2], b.users[i], b.users[i + 1] .. '|' .. b.users[i + 2])
  end
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
for i = 1, #b.boards, 2 do
  redis.call('HSET', KEYS[8], b.boards[i], b.boards[i + 1])
end
for i = 1, #KEYS do
  redis.call('EXPIRE', KEYS[i], ARGV[2])
end
return 1
