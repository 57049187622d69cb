-- DRAWING -> DRAWN for the lease holder: count the wins, store the result, announce it to the
-- room, tell each winner privately and leave the bag.drawn business event, all in this one step.
-- KEYS and ARGV[1..6]: see bag_lib.lua.
-- ARGV[7] claim token   ARGV[8] bags a user may win per room per day   ARGV[9] result JSON
-- ARGV[10] announcement event body   ARGV[11] private notice body   ARGV[12] TTL of KEYS[7], s
-- ARGV[13..] winner ids
-- Returns {'ok'}, {'lost'} (not our lease) or {'capped', {user...}} (nothing changed).
-- retry: lookup
-- A retry that finds the bag drawn with its own result answers ok: its first attempt drew it.
if RETRY and redis.call('HGET', KEYS[3], 'state') == 'drawn'
    and redis.call('HGET', KEYS[3], 'result') == ARGV[9] then
  return {'ok'}
end
if redis.call('HGET', KEYS[3], 'state') ~= 'drawing'
    or redis.call('HGET', KEYS[3], 'claim') ~= ARGV[7] then
  return {'lost'}
end
local cap = tonumber(ARGV[8])
local capped = {}
for i = 13, #ARGV do
  if tonumber(redis.call('HGET', KEYS[7], ARGV[i]) or '0') >= cap then
    capped[#capped + 1] = ARGV[i]
  end
end
if #capped > 0 then return {'capped', capped} end
for i = 13, #ARGV do redis.call('HINCRBY', KEYS[7], ARGV[i], 1) end
if #ARGV >= 13 then redis.call('EXPIRE', KEYS[7], ARGV[12]) end
redis.call('HSET', KEYS[3], 'state', 'drawn', 'drawn_at', ARGV[5], 'result', ARGV[9])
redis.call('HDEL', KEYS[3], 'claim', 'lease')
follow_current('drawn')
append_event(ARGV[10])
-- bag.drawn: the bag's id, then the result's own members (winners, ineligible)
outbox(KEYS[#KEYS], 'bag.drawn', '{"bag":' .. cjson.encode(ARGV[6]) .. ',' .. string.sub(ARGV[9], 2))
for i = 13, #ARGV do
  redis.call(ARGV[4], ARGV[1], '@' .. ARGV[i] .. '\n' .. ARGV[11])
end
return {'ok'}
