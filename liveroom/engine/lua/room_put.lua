-- Store a room's settings, and tell the shop's backend when the room starts or ends: the
-- first settings of a room, or ``ended`` going from true to false, leave ``room.started``;
-- ``ended`` going from false (or unset) to true leaves ``room.ended``.
-- retry: safe
-- KEYS[1] room settings (JSON string)    KEYS[2] the room's outbox stream
-- ARGV[1] the new settings JSON          ARGV[2] 1 when the new settings say ended, else 0
-- ARGV[3] the event's payload
-- Returns the event type appended, or false.
local old = redis.call('GET', KEYS[1])
local was_ended = true
if old then
  local ok, decoded = pcall(cjson.decode, old)
  was_ended = ok and type(decoded) == 'table' and decoded.ended == true
end
redis.call('SET', KEYS[1], ARGV[1])
local ended = ARGV[2] == '1'
if ended and not was_ended then
  outbox(KEYS[2], 'room.ended', ARGV[3])
  return 'room.ended'
end
if not ended and was_ended then
  outbox(KEYS[2], 'room.started', ARGV[3])
  return 'room.started'
end
return false
