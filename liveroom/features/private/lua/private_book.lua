-- Book a user for a room's scheduled live. It reads the room's settings in the same step, so
-- a booking is either taken before the room goes live (and announced when it does) or
-- refused: never taken and missed.
-- KEYS[1] the room's settings (the core's)   KEYS[2] round (hash)   KEYS[3] booked (hash)
-- KEYS[4] pending (set)                      KEYS[5] the room's outbox stream
-- ARGV[1] user id
-- Returns {code, 1 when a new booking else 0, round}: code ok, not_scheduled, room_live or
-- room_ended.
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return {'not_scheduled', 0, {}} end
if is_live(room_settings(KEYS[1])) then
  return {'room_live', 0, round_reply(KEYS[2], KEYS[3])}
end
if state == 'started' then return {'room_ended', 0, round_reply(KEYS[2], KEYS[3])} end
local now = now_ms()
local new = redis.call('HSETNX', KEYS[3], ARGV[1], now)
if new == 1 then
  redis.call('SADD', KEYS[4], ARGV[1])
  local r = redis.call('HMGET', KEYS[2], 'title', 'starts')
  local starts = cjson.null
  if tonumber(r[2]) > 0 then starts = tonumber(r[2]) / 1000 end
  outbox(KEYS[5], 'room.booked', {user = ARGV[1], title = r[1], starts = starts}, now)
end
return {'ok', new, round_reply(KEYS[2], KEYS[3])}
