-- Read groups of a deal: by id, or the open ones in the order a match picks them.
-- retry: safe
-- KEYS[1] groups (hash: id -> group JSON)     KEYS[2] open groups (zset, match order)
-- ARGV[1] ids or open      ARGV[2..] group ids (ids), or the most to read (open)
-- Returns the group JSONs found, in the order asked.
local ids
if ARGV[1] == 'open' then
  ids = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[2]) - 1)
else
  ids = {unpack(ARGV, 2)}
end
local out = {}
for _, id in ipairs(ids) do
  local raw = redis.call('HGET', KEYS[1], id)
  if raw then out[#out + 1] = raw end
end
return out
