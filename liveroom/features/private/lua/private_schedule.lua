-- Open a booking round for a room's next live, or change the open round's title and time.
-- A new round (none yet, or the last one started) begins with no bookings.
-- KEYS[1] the room's settings (the core's)   KEYS[2] round (hash)   KEYS[3] booked (hash)
-- KEYS[4] pending (set: booked, not announced yet)
-- ARGV[1] title                              ARGV[2] start time, ms (0: not given)
-- Returns {code, round}: code ok, room_live or busy; round as ``round_reply`` gives it.
if is_live(room_settings(KEYS[1])) then
  return {'room_live', round_reply(KEYS[2], KEYS[3])}
end
local state = redis.call('HGET', KEYS[2], 'state')
if state == 'started' and redis.call('SCARD', KEYS[4]) > 0 then
  return {'busy', round_reply(KEYS[2], KEYS[3])}
end
if state ~= 'open' then
  redis.call('DEL', KEYS[3], KEYS[4])
end
redis.call('HSET', KEYS[2], 'state', 'open', 'title', ARGV[1], 'starts', ARGV[2],
  'scheduled', now_ms())
return {'ok', round_reply(KEYS[2], KEYS[3])}
