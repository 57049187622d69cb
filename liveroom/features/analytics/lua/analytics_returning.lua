-- Note users as seen in a room of a host; tell which were seen in another of its rooms first.
-- retry: safe
-- KEYS[1] the host's hash (user -> the room they were first seen in)
-- ARGV[1] room   ARGV[2] keep seconds   ARGV[3..] users
-- Returns one number per user: 1 returning (first seen in another room), 0 new.
local out = {}
for i = 3, #ARGV do
  local user = ARGV[i]
  if redis.call('HSETNX', KEYS[1], user, ARGV[1]) == 1 then
    out[i - 2] = 0
  elseif redis.call('HGET', KEYS[1], user) == ARGV[1] then
    out[i - 2] = 0
  else
    out[i - 2] = 1
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return out
