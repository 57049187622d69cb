-- Add members to a room's set of unique members; optionally add how many were new to a room
-- counter in the same atomic step, so a retry after a lost reply never counts anyone twice or
-- drops them.
-- retry: safe
-- KEYS[1] the set           KEYS[2] counters hash
-- ARGV[1] counter name, or '' for none; ARGV[2..] members
-- Returns how many members were new.
local added = 0
for i = 2, #ARGV, 5000 do
  added = added + redis.call('SADD', KEYS[1], unpack(ARGV, i, math.min(i + 4999, #ARGV)))
end
if ARGV[1] ~= '' and added > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], added)
end
return added
