-- Take the draw: OPEN (deadline passed, or forced) or DRAWING with a lapsed lease -> DRAWING
-- under a lease held by ARGV[7]. Exactly one caller gets 'claimed' while the lease runs.
-- KEYS and ARGV[1..6]: see bag_lib.lua (KEYS[1], KEYS[2], KEYS[7] unused).
-- ARGV[7] claim token   ARGV[8] lease end, epoch s   ARGV[9] '1' to draw before the deadline
-- Returns {'claimed', {bag field, value...}, {user, name...}}, {'missing'}, {'early', deadline},
-- {'busy'} or {'state', state}.
-- retry: lookup
-- A retry that finds the bag drawing under its own claim token answers 'claimed' again.
local state = redis.call('HGET', KEYS[3], 'state')
if not state then return {'missing'} end
if RETRY and state == 'drawing' and redis.call('HGET', KEYS[3], 'claim') == ARGV[7] then
  return {'claimed', redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
end
local now = tonumber(ARGV[5])
if state == 'open' then
  local deadline = redis.call('HGET', KEYS[3], 'deadline')
  if ARGV[9] ~= '1' and now < tonumber(deadline) then return {'early', deadline} end
elseif state == 'drawing' then
  if tonumber(redis.call('HGET', KEYS[3], 'lease') or '0') > now then return {'busy'} end
else
  return {'state', state}
end
redis.call('HSET', KEYS[3], 'state', 'drawing', 'claim', ARGV[7], 'lease', ARGV[8])
follow_current('drawing')
return {'claimed', redis.call('HGETALL', KEYS[3]), redis.call('HGETALL', KEYS[4])}
