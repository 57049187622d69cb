-- One piece of a replay: the oldest events of one epoch after an offset, when history still
-- holds the next.
-- uses: stream_lib
-- retry: safe
-- KEYS[1] seq counter      KEYS[2] history stream   KEYS[3] epoch
-- ARGV[1] after (offset)   ARGV[2] most events to return
-- ARGV[3] the epoch of that offset                  ARGV[4] channel   ARGV[5] PUBLISH or SPUBLISH
-- Returns {head, complete (0/1), epoch, payload...}, oldest first, from offset after + 1 on;
-- never complete when the stream's epoch is another.
-- Offsets in the stream are contiguous and trimmed only from the oldest end, so offset
-- after + 1 is (head - after) entries from the newest and (len - (head - after)) from the
-- oldest: the walk starts at the nearer end, and never reads more than half the stream plus the
-- piece itself.
local epoch = stream_epoch(KEYS[1], KEYS[3], ARGV[4], ARGV[5])
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if epoch ~= ARGV[3] then return {head, 0, epoch} end
local after = tonumber(ARGV[1])
if after >= head then
  if after == head then return {head, 1, epoch} end
  return {head, 0, epoch}
end
local need = head - after
local len = redis.call('XLEN', KEYS[2])
if need > len then return {head, 0, epoch} end
local count = math.min(tonumber(ARGV[2]), need)
local skip = len - need
local out = {head, 1, epoch}
if skip <= need then
  local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', skip + count)
  for i = skip + 1, #entries do out[#out + 1] = entries[i][2][4] end
  local first = entries[skip + 1]
  if first == nil or tonumber(first[2][2]) ~= after + 1 then return {head, 0, epoch} end
else
  local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', need)
  local first = entries[need]
  if first == nil or tonumber(first[2][2]) ~= after + 1 then return {head, 0, epoch} end
  for i = need, need - count + 1, -1 do out[#out + 1] = entries[i][2][4] end
end
return out
