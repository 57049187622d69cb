-- Add a participant to an OPEN bag before its deadline; a second join changes nothing.
-- retry: safe
-- KEYS and ARGV[1..6]: see bag_lib.lua (KEYS[1], KEYS[2] unused).
-- ARGV[7] user id   ARGV[8] display name   ARGV[9] bags a user may win per room per day
-- Returns {'ok', new (1|0), participants}, {'missing'}, {'state', state}, {'ended'} or {'limit'}.
local state = redis.call('HGET', KEYS[3], 'state')
if not state then return {'missing'} end
if state ~= 'open' then return {'state', state} end
if tonumber(ARGV[5]) >= tonumber(redis.call('HGET', KEYS[3], 'deadline')) then
  return {'ended'}
end
if redis.call('HEXISTS', KEYS[4], ARGV[7]) == 1 then
  return {'ok', 0, redis.call('HLEN', KEYS[4])}
end
if tonumber(redis.call('HGET', KEYS[7], ARGV[7]) or '0') >= tonumber(ARGV[9]) then
  return {'limit'}
end
redis.call('HSET', KEYS[4], ARGV[7], ARGV[8])
return {'ok', 1, redis.call('HLEN', KEYS[4])}
