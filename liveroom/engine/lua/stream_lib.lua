-- Shared head of every script that appends to or reads a room's stream: prepended to each
-- script that declares it uses this library (``USES`` in liveroom/engine/scripts.py).
-- A room's stream is its offset counter, its history and its epoch: the name of this run of
-- offsets. Whatever first finds the epoch missing (Redis lost the room's keys: a restart
-- without persistence, a flush) creates it in the same atomic step, so offsets that start
-- again can never be taken for the lost ones. A new epoch is announced on the room's channel,
-- "@!<epoch> <head>" (events of the epoch continue after offset head), before anything else of
-- it is published, so subscribed nodes hear of it in stream order. (A node older than epochs
-- reads it as a private notice for a user id that cannot exist, and drops it.)

local STREAM_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'

-- A new epoch: Redis' clock in microseconds, in base 36 (10 characters), never `old`.
local function stream_new_epoch(old)
  local t = redis.call('TIME')
  local n = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local out = ''
  while n > 0 do
    local d = n % 36
    out = string.sub(STREAM_DIGITS, d + 1, d + 1) .. out
    n = (n - d) / 36
  end
  if out == old then out = out .. '0' end
  return out
end

-- Set the room's epoch to a new one and announce it; returns it.
local function stream_renew(seq_key, epoch_key, channel, publish, old)
  local epoch = stream_new_epoch(old)
  redis.call('SET', epoch_key, epoch)
  local head = tonumber(redis.call('GET', seq_key) or '0')
  redis.call(publish, channel, '@!' .. epoch .. ' ' .. head)
  return epoch
end

-- The room's epoch, created (and announced) when missing.
local function stream_epoch(seq_key, epoch_key, channel, publish)
  local epoch = redis.call('GET', epoch_key)
  if epoch then return epoch end
  return stream_renew(seq_key, epoch_key, channel, publish, false)
end

-- Append one room event: epoch, next offset, history, pub/sub. Returns the stored payload.
-- ``call``, when given, is the caller's id of this call, kept in the entry (field r, after o
-- and e) for ``stream_find``.
local function stream_append(seq_key, log_key, epoch_key, channel, body, maxlen, oldest, publish,
                             call)
  stream_epoch(seq_key, epoch_key, channel, publish)
  local seq = redis.call('INCR', seq_key)
  local payload = '{"offset":' .. seq .. ',' .. string.sub(body, 2)
  if call then
    redis.call('XADD', log_key, 'MAXLEN', '~', maxlen, '*', 'o', seq, 'e', payload, 'r', call)
  else
    redis.call('XADD', log_key, 'MAXLEN', '~', maxlen, '*', 'o', seq, 'e', payload)
  end
  if tonumber(oldest) > 0 then redis.call('XTRIM', log_key, 'MINID', oldest) end
  redis.call(publish, channel, payload)
  return payload
end

-- For a retry only (RETRY, liveroom/engine/scripts.py): the payload that call ``call`` appended,
-- or false. Its first attempt ran at most ``age_ms`` ago (Redis' clock names the entries), so
-- only the entries of that span are read, newest first, in chunks: a first attempt that ran
-- is usually in the first chunk; one that did not costs a read of the span.
local function stream_find(log_key, call, age_ms)
  local t = redis.call('TIME')
  local since = math.max(0, tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - age_ms)
  local last = '+'
  while true do
    local entries = redis.call('XREVRANGE', log_key, last, since, 'COUNT', 64)
    for _, entry in ipairs(entries) do
      if entry[2][6] == call then return entry[2][4] end
    end
    if #entries < 64 then return false end
    last = '(' .. entries[#entries][1]
  end
end
