-- Tell the shop's backend, once per booking, that the booked room went live: the round is
-- marked started, and up to ARGV[1] bookings leave the pending set, each with its own
-- ``room.started`` event, in this one step. Any node may call it, any number of times (the
-- room's start, a sweep): a booking leaves the pending set once, so its event exists once.
-- retry: safe
-- KEYS[1] the room's settings (the core's)   KEYS[2] round (hash)   KEYS[3] booked (hash)
-- KEYS[4] pending (set)                      KEYS[5] the room's outbox stream
-- ARGV[1] the most bookings to announce
-- Returns {1 when the round has started else 0, announced now, left to announce}.
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return {0, 0, 0} end
local settings = room_settings(KEYS[1])
if state == 'open' then
  if not is_live(settings) then return {0, 0, redis.call('SCARD', KEYS[4])} end
  redis.call('HSET', KEYS[2], 'state', 'started')
end
local title = (settings and settings.title) or redis.call('HGET', KEYS[2], 'title')
local users = redis.call('SPOP', KEYS[4], tonumber(ARGV[1]))
local now = now_ms()
for _, user in ipairs(users) do
  local booked = tonumber(redis.call('HGET', KEYS[3], user)) / 1000
  outbox(KEYS[5], 'room.started', {user = user, title = title, booked = booked}, now)
end
return {1, #users, redis.call('SCARD', KEYS[4])}
