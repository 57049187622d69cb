-- Grab one red packet for one user: the atomic pop.
-- KEYS[1] packets hash   KEYS[2] packets-left hash   KEYS[3] active zset   KEYS[4] keywords hash
-- KEYS[5] keyword-said hash ("<id>:<user>" -> 1)    KEYS[6] amounts list
-- KEYS[7] grabbed hash (user -> fen)                 KEYS[8] tally hash
-- KEYS[9] the room's outbox stream: a grab leaves packet.grabbed
-- ARGV[1] id   ARGV[2] user   ARGV[3] display name   ARGV[4] now, ms
-- Returns {status, amount, left, public JSON or false[, tally...]}: status ok, not_found,
-- already, closed, not_started, gone or keyword. The grab that takes the last packet gets the
-- tally: grabbed, grabbed_fen, best_user, best_name, best_fen, first_ms, last_ms.
-- retry: lookup
-- A retry that finds the user's grab answers ok with its amount (and the tally when none is
-- left): its first attempt grabbed, or an earlier grab did; the user holds that amount.
local id, user = ARGV[1], ARGV[2]
local meta = redis.call('HGET', KEYS[1], id)
if not meta then return {'not_found', 0, 0, false} end
local rule = redis.call('HMGET', KEYS[8], 'open_ms', 'keyword', 'ttl', 'closed_ms')
if not rule[1] then
  -- this packet's own keys have expired (the room-wide ones live on while newer packets come)
  forget_packet(id, meta)
  return {'not_found', 0, 0, false}
end
local left = redis.call('LLEN', KEYS[6])
local mine = redis.call('HGET', KEYS[7], user)
if mine and RETRY and left == 0 then
  local t = redis.call('HMGET', KEYS[8], 'grabbed', 'grabbed_fen', 'best_user', 'best_name',
    'best_fen', 'first_ms', 'last_ms')
  return {'ok', tonumber(mine), 0, meta, t[1], t[2], t[3], t[4], t[5], t[6], t[7]}
end
if mine then return {RETRY and 'ok' or 'already', tonumber(mine), left, meta} end
if rule[4] then return {'closed', 0, 0, meta} end
if tonumber(ARGV[4]) < tonumber(rule[1]) then return {'not_started', 0, left, meta} end
if left == 0 then return {'gone', 0, 0, meta} end
if rule[2] ~= '' and redis.call('HEXISTS', KEYS[5], id .. ':' .. user) == 0 then
  return {'keyword', 0, left, meta}
end
local amount = tonumber(redis.call('LPOP', KEYS[6]))
left = left - 1
redis.call('HSET', KEYS[7], user, amount)
local n = redis.call('HINCRBY', KEYS[8], 'grabbed', 1)
redis.call('HINCRBY', KEYS[8], 'grabbed_fen', amount)
redis.call('HSET', KEYS[8], 'last_ms', ARGV[4])
if n == 1 then
  redis.call('HSET', KEYS[8], 'first_ms', ARGV[4])
  redis.call('EXPIRE', KEYS[7], rule[3])
end
if amount > tonumber(redis.call('HGET', KEYS[8], 'best_fen') or '0') then
  redis.call('HSET', KEYS[8], 'best_fen', amount, 'best_user', user, 'best_name', ARGV[3])
end
redis.call('HSET', KEYS[2], id, left)
outbox(KEYS[9], 'packet.grabbed', {packet = id, user = user, amount_fen = amount, left = left})
if left > 0 then return {'ok', amount, left, meta} end
redis.call('ZREM', KEYS[3], id)
drop_keyword(id, rule[2])
local t = redis.call('HMGET', KEYS[8], 'grabbed', 'grabbed_fen', 'best_user', 'best_name',
  'best_fen', 'first_ms', 'last_ms')
return {'ok', amount, 0, meta, t[1], t[2], t[3], t[4], t[5], t[6], t[7]}
