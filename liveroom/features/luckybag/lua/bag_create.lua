-- Store a new CREATED bag and publish its event. KEYS and ARGV[1..6]: see bag_lib.lua.
-- ARGV[7] event body   ARGV[8..] field, value pairs of the bag hash
-- Returns {'ok'} or {'exists'}. The bag becomes the room's current one unless another is
-- open or drawing, so viewers see its rules before it opens.
-- retry: lookup
-- A retry that finds the bag holding every field it was given, as given, answers ok.
if redis.call('EXISTS', KEYS[3]) == 1 then
  if RETRY then
    local same = true
    for i = 8, #ARGV, 2 do
      if redis.call('HGET', KEYS[3], ARGV[i]) ~= ARGV[i + 1] then same = false; break end
    end
    if same then return {'ok'} end
  end
  return {'exists'}
end
local fields = {}
for i = 8, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[3], unpack(fields))
redis.call('ZADD', KEYS[5], ARGV[5], ARGV[6])
local cur = redis.call('HGET', KEYS[6], 'state')
if cur ~= 'open' and cur ~= 'drawing' then
  redis.call('HSET', KEYS[6], 'id', ARGV[6], 'state', 'created')
end
append_event(ARGV[7])
return {'ok'}
