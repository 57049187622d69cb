-- Append one room event: next offset, history, pub/sub; optionally gated as a comment.
-- uses: stream_lib
-- retry: lookup
-- KEYS[1] seq counter      KEYS[2] history stream   KEYS[3] recent-comments list
-- KEYS[4] epoch            KEYS[5] mutes hash       KEYS[6] user rate key
-- KEYS[7] room cap key     KEYS[8] counters hash    KEYS[9] this user's text key (dedupe)
-- (5..9: comments only)
-- ARGV[1] channel          ARGV[2] event body (JSON object without offset)
-- ARGV[3] history maxlen   ARGV[4] oldest id to keep, ms (0: no age limit)
-- ARGV[5] recent comments to keep (0: not a comment)     ARGV[6] PUBLISH or SPUBLISH
-- ARGV[7] this call's id, unique to the call (kept in the history entry, field r)
-- ARGV[8] the bell channel ('' or absent: none): once published, the room's channel goes
--         there too, so that nodes holding room events for the tick read this one at once
-- ARGV[9] user id          ARGV[10] now, ms         ARGV[11] user limit      ARGV[12] window, s
-- ARGV[13] room cap per second (0: none)            ARGV[14] 1 when the comment has priority
-- ARGV[15] comments the cap passes back to back
-- ARGV[16] dedupe window, ms (0: no duplicate check)  ARGV[17] 1 when hidden (never published)
-- The room cap spaces comments evenly (GCRA): KEYS[7] holds when the cap is next free, in ms
-- of Redis' clock, so that every node shares one schedule.
-- Checks run in this order: mute, duplicate, the user's rate, the room's cap. Only a comment
-- that passes them all (posted, shed or hidden) is remembered under KEYS[9] for dedupe; the
-- value is the call's id.
-- Returns {status, payload}: status is ok, muted, duplicate, rate_limited, shed (payload: the
-- room's newest offset) or hidden.
-- A retry (RETRY: the connection of an earlier attempt of this call was lost, scripts.py)
-- first looks for the event the earlier attempt appended, by ARGV[7], and answers what that
-- attempt answered. Not found, the call runs as a first one would, except that a dedupe key
-- holding this call's id is the earlier attempt's (which passed the checks up to the cap and
-- was shed or hidden): it is neither a duplicate nor counted again against the user's rate.
if RETRY then
  local payload = stream_find(KEYS[2], ARGV[7], RETRY_MS)
  if payload then return {'ok', payload} end
end
if #KEYS > 4 then
  local now = tonumber(ARGV[10])
  local until_ms = redis.call('HGET', KEYS[5], ARGV[9])
  if until_ms then
    if tonumber(until_ms) > now then return {'muted', false} end
    redis.call('HDEL', KEYS[5], ARGV[9])
  end
  -- said: remembered at once (one command on the usual path), forgotten if the limit refuses
  local window = tonumber(ARGV[16])
  local counted = false
  if window > 0 and not redis.call('SET', KEYS[9], ARGV[7], 'PX', window, 'NX') then
    if not (RETRY and redis.call('GET', KEYS[9]) == ARGV[7]) then return {'duplicate', false} end
    counted = true
  end
  if not counted then
    local used = redis.call('INCR', KEYS[6])
    if used == 1 then redis.call('EXPIRE', KEYS[6], tonumber(ARGV[12])) end
    if used > tonumber(ARGV[11]) then
      if window > 0 then redis.call('DEL', KEYS[9]) end
      return {'rate_limited', false}
    end
  end
  if ARGV[17] == '1' then return {'hidden', false} end
  local cap = tonumber(ARGV[13])
  if cap > 0 and ARGV[14] ~= '1' then
    local t = redis.call('TIME')
    local clock = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    local interval = 1000 / cap
    local due = math.max(tonumber(redis.call('GET', KEYS[7])) or 0, clock)
    if due - clock > (tonumber(ARGV[15]) - 1) * interval + 0.001 then
      return {'shed', redis.call('GET', KEYS[1]) or '0'}
    end
    due = due + interval
    redis.call('SET', KEYS[7], string.format('%.3f', due), 'PX', math.ceil(due - clock) + 1000)
  end
end
local payload = stream_append(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4],
  ARGV[6], ARGV[7])
if ARGV[8] and ARGV[8] ~= '' then redis.call('PUBLISH', ARGV[8], ARGV[1]) end
if #KEYS > 7 then redis.call('HINCRBY', KEYS[8], 'comments', 1) end
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('RPUSH', KEYS[3], payload)
  redis.call('LTRIM', KEYS[3], -keep, -1)
end
return {'ok', payload}
