-- Append one room event: next offset, history, pub/sub; optionally gated as a comment.
-- uses: stream_lib
-- KEYS[1] seq counter      KEYS[2] history stream   KEYS[3] recent-comments list
-- KEYS[4] epoch            KEYS[5] mutes hash       KEYS[6] user rate key
-- KEYS[7] room cap key     KEYS[8] counters hash    (5..8: comments only)
-- ARGV[1] channel          ARGV[2] event body (JSON object without offset)
-- ARGV[3] history maxlen   ARGV[4] oldest id to keep, ms (0: no age limit)
-- ARGV[5] recent comments to keep (0: not a comment)     ARGV[6] PUBLISH or SPUBLISH
-- ARGV[7] user id          ARGV[8] now, ms          ARGV[9] user limit       ARGV[10] window, s
-- ARGV[11] room cap per second (0: none)            ARGV[12] 1 when the comment has priority
-- ARGV[13] comments the cap passes back to back
-- The room cap spaces comments evenly (GCRA): KEYS[7] holds when the cap is next free, in ms
-- of Redis' clock, so that every node shares one schedule.
-- Returns {status, payload}: status is ok, muted, rate_limited or shed.
if #KEYS > 4 then
  local now = tonumber(ARGV[8])
  local until_ms = redis.call('HGET', KEYS[5], ARGV[7])
  if until_ms then
    if tonumber(until_ms) > now then return {'muted', false} end
    redis.call('HDEL', KEYS[5], ARGV[7])
  end
  local used = redis.call('INCR', KEYS[6])
  if used == 1 then redis.call('EXPIRE', KEYS[6], tonumber(ARGV[10])) end
  if used > tonumber(ARGV[9]) then return {'rate_limited', false} end
  local cap = tonumber(ARGV[11])
  if cap > 0 and ARGV[12] ~= '1' then
    local t = redis.call('TIME')
    local clock = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
    local interval = 1000 / cap
    local due = math.max(tonumber(redis.call('GET', KEYS[7])) or 0, clock)
    if due - clock > (tonumber(ARGV[13]) - 1) * interval + 0.001 then return {'shed', false} end
    due = due + interval
    redis.call('SET', KEYS[7], string.format('%.3f', due), 'PX', math.ceil(due - clock) + 1000)
  end
end
local payload = stream_append(KEYS[1], KEYS[2], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[6])
if #KEYS > 7 then redis.call('HINCRBY', KEYS[8], 'comments', 1) end
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('RPUSH', KEYS[3], payload)
  redis.call('LTRIM', KEYS[3], -keep, -1)
end
return {'ok', payload}
