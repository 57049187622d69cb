-- Shared head of every script (prepended to each when it is registered): the business-event
-- outbox (docs/events.md). A script that changes state calls ``outbox`` in the same run, so
-- the event and the change are one atomic step: both happen or neither does.

-- Append one business event to a room's outbox stream ``key`` (one of the script's KEYS,
-- ``<prefix>:{room:<id>}:outbox``). ``data`` is a table (encoded here) or a JSON string.
-- The room is read from the key's hash tag; ``ts`` is Redis' clock in milliseconds (``ms``
-- when the script has read it already). The
-- stream is trimmed by the feed (by age and count), not here, so that a consumer falling
-- behind the bound is seen and reported before anything is dropped.
local function outbox(key, etype, data, ms)
  if type(data) == 'table' then data = cjson.encode(data) end
  if not ms then
    local t = redis.call('TIME')
    ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return redis.call('XADD', key, '*', 'type', etype,
    'room', string.match(key, '{room:(.-)}') or '', 'ts', ms, 'data', data)
end
