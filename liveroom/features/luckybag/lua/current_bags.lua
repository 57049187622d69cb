-- The current-bag records of many rooms in one call, for a standalone Redis only: the rooms'
-- keys sit in different Cluster slots (RedisBagStore.current_many reads them one by one there).
-- retry: safe
-- KEYS[i] room i's current-bag record (a hash; none for a room that never had a bag)
-- Returns each room's record as HGETALL gives it (a flat list of fields and values, empty for
-- none), in the order of KEYS.
local out = {}
for i = 1, #KEYS do
  out[i] = redis.call('HGETALL', KEYS[i])
end
return out
