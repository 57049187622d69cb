-- Shared head of the private-traffic scripts (prepended to each ``private_*.lua``).

-- Redis' clock in milliseconds.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The room's settings (the core's JSON string at ``key``) as a table, or nil when none are
-- stored. Settings that do not decode count as settings: the room has been set up.
local function room_settings(key)
  local raw = redis.call('GET', key)
  if not raw then return nil end
  local ok, decoded = pcall(cjson.decode, raw)
  if ok and type(decoded) == 'table' then return decoded end
  return {}
end

-- A room is live once its settings are stored, until they say ``ended``.
local function is_live(settings)
  return settings ~= nil and settings.ended ~= true
end

-- The booking round at ``round`` (hash) with the number of bookings in ``booked`` (hash):
-- {state, title, starts ms, bookings}, or an empty table when no round was ever scheduled.
local function round_reply(round, booked)
  local r = redis.call('HMGET', round, 'state', 'title', 'starts')
  if not r[1] then return {} end
  return {r[1], r[2], r[3], redis.call('HLEN', booked)}
end
