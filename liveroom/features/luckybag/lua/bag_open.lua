-- CREATED -> OPEN: the countdown starts and the seed's hash is published.
-- KEYS and ARGV[1..6]: see bag_lib.lua.
-- ARGV[7] deadline, epoch s   ARGV[8] secret seed   ARGV[9] sha256 of the seed   ARGV[10] event body
-- Returns {'ok'}, {'missing'}, {'state', state} or {'busy'} (another bag of the room is open).
-- retry: lookup
-- A retry that finds the bag open with its own seed answers ok: its first attempt opened it.
local state = redis.call('HGET', KEYS[3], 'state')
if not state then return {'missing'} end
if RETRY and state == 'open' and redis.call('HGET', KEYS[3], 'seed') == ARGV[8] then
  return {'ok'}
end
if state ~= 'created' then return {'state', state} end
local cur = redis.call('HGET', KEYS[6], 'state')
if (cur == 'open' or cur == 'drawing') and redis.call('HGET', KEYS[6], 'id') ~= ARGV[6] then
  return {'busy'}
end
redis.call('HSET', KEYS[3], 'state', 'open', 'opened_at', ARGV[5], 'deadline', ARGV[7],
  'seed', ARGV[8], 'seed_hash', ARGV[9])
redis.call('HSET', KEYS[6], 'id', ARGV[6], 'state', 'open')
append_event(ARGV[10])
return {'ok'}
