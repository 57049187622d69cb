-- Close one red packet early: take back the packets nobody grabbed and record the refund.
-- retry: safe
-- KEYS[1] packets hash   KEYS[2] packets-left hash   KEYS[3] active zset   KEYS[4] keywords hash
-- KEYS[5] amounts list   KEYS[6] tally hash     KEYS[7] the room's outbox stream
-- ARGV[1] id   ARGV[2] now, ms
-- Returns {} for an unknown (or expired) id, else {public JSON, refund_fen, refunded,
-- closed_ms, again, tally grabbed, grabbed_fen, best_user, best_name, best_fen, first_ms,
-- last_ms}. ``again`` is 1 when it was closed before: the first close's record comes back.
local id = ARGV[1]
local meta = redis.call('HGET', KEYS[1], id)
if not meta then return {} end
local rule = redis.call('HMGET', KEYS[6], 'open_ms', 'keyword', 'closed_ms')
if not rule[1] then
  forget_packet(id, meta)
  return {}
end
local again = 1
if not rule[3] then
  again = 0
  local fen, n = 0, 0
  for _, v in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
    fen = fen + tonumber(v)
    n = n + 1
  end
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[6], 'closed_ms', ARGV[2], 'refund_fen', fen, 'refunded', n)
  redis.call('HSET', KEYS[2], id, 0)
  redis.call('ZREM', KEYS[3], id)
  drop_keyword(id, rule[2])
  local g = redis.call('HMGET', KEYS[6], 'grabbed', 'grabbed_fen')
  outbox(KEYS[7], 'packet.closed', {packet = id, refund_fen = fen, refunded = n,
    grabbed = tonumber(g[1] or '0'), grabbed_fen = tonumber(g[2] or '0')})
end
local t = redis.call('HMGET', KEYS[6], 'refund_fen', 'refunded', 'closed_ms', 'grabbed',
  'grabbed_fen', 'best_user', 'best_name', 'best_fen', 'first_ms', 'last_ms')
return {meta, t[1], t[2], t[3], again, t[4] or '0', t[5] or '0', t[6] or '', t[7] or '',
  t[8] or '0', t[9] or '0', t[10] or '0'}
