-- CREATED, or OPEN before its deadline -> REVOKED; publish the event.
-- KEYS and ARGV[1..6]: see bag_lib.lua (KEYS[4], KEYS[7] unused).   ARGV[7] event body
-- Returns {'ok'}, {'missing'}, {'state', state} or {'due'} (the deadline passed: draw owed).
-- retry: lookup
-- A retry that finds the bag revoked answers ok: revoked it is, and its event went out once.
local state = redis.call('HGET', KEYS[3], 'state')
if not state then return {'missing'} end
if RETRY and state == 'revoked' then return {'ok'} end
if state ~= 'created' and state ~= 'open' then return {'state', state} end
if state == 'open'
    and tonumber(ARGV[5]) >= tonumber(redis.call('HGET', KEYS[3], 'deadline')) then
  return {'due'}
end
redis.call('HSET', KEYS[3], 'state', 'revoked', 'revoked_at', ARGV[5])
follow_current('revoked')
append_event(ARGV[7])
return {'ok'}
