-- Create a flash sale unless its id is taken in the room.
-- KEYS[1] sale hash        KEYS[2] the room's sale index (set of sale ids)
-- ARGV[1] sale id          ARGV[2..] field, value pairs of the new sale
-- Returns {code, sale fields}: ok when created, conflict (with the existing sale) when taken.
-- retry: lookup
-- A retry that finds the sale holding every field it was given, as given, answers ok: it is
-- the one its first attempt created.
if redis.call('EXISTS', KEYS[1]) == 1 then
  if RETRY then
    local same = true
    for i = 2, #ARGV, 2 do
      if redis.call('HGET', KEYS[1], ARGV[i]) ~= ARGV[i + 1] then same = false; break end
    end
    if same then return {'ok', redis.call('HGETALL', KEYS[1])} end
  end
  return {'conflict', redis.call('HGETALL', KEYS[1])}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'created', now, 'status', 'created', 'reserved', 0, 'paid', 0,
  'version', 1, 'seq', 0, unpack(ARGV, 2))
redis.call('SADD', KEYS[2], ARGV[1])
return {'ok', redis.call('HGETALL', KEYS[1])}
