-- The money check of one red packet, read in one consistent step.
-- retry: safe
-- KEYS[1] packets hash   KEYS[2] amounts list   KEYS[3] grabbed hash   KEYS[4] tally hash
-- ARGV[1] id
-- Returns {} for an unknown id, else {public JSON, total, count, grabbed, grabbed_fen, left,
-- left_fen, tally grabbed, tally grabbed_fen, best_user, best_name, best_fen, first_ms, last_ms,
-- refund_fen, refunded, closed_ms} (the last three 0 unless the host closed it).
local meta = redis.call('HGET', KEYS[1], ARGV[1])
if not meta then return {} end
local grabbed, grabbed_fen = 0, 0
for _, v in ipairs(redis.call('HVALS', KEYS[3])) do
  grabbed = grabbed + 1
  grabbed_fen = grabbed_fen + tonumber(v)
end
local left, left_fen = 0, 0
for _, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  left = left + 1
  left_fen = left_fen + tonumber(v)
end
local t = redis.call('HMGET', KEYS[4], 'total', 'count', 'grabbed', 'grabbed_fen', 'best_user',
  'best_name', 'best_fen', 'first_ms', 'last_ms', 'refund_fen', 'refunded', 'closed_ms')
return {meta, t[1], t[2], grabbed, grabbed_fen, left, left_fen, t[3], t[4], t[5] or '',
  t[6] or '', t[7] or '0', t[8] or '0', t[9] or '0', t[10] or '0', t[11] or '0', t[12] or '0'}
