-- A user commented some text: unlock every open keyword packet whose keyword it is.
-- KEYS[1] keywords hash (keyword -> ids, spaced)   KEYS[2] keyword-said hash
-- ARGV[1] user   ARGV[2] comment text   ARGV[3] key lifetime, s
-- Returns the ids unlocked for this user now.
local ids = redis.call('HGET', KEYS[1], ARGV[2])
if not ids then return {} end
local out = {}
for id in string.gmatch(ids, '%S+') do
  if redis.call('HSETNX', KEYS[2], id .. ':' .. ARGV[1], 1) == 1 then out[#out + 1] = id end
end
if #out > 0 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
return out
