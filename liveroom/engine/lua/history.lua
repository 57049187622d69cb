-- Events after an offset of one epoch, when history still holds all of them.
-- uses: stream_lib
-- retry: safe
-- KEYS[1] seq counter      KEYS[2] history stream   KEYS[3] epoch
-- ARGV[1] after (offset)   ARGV[2] most events to return
-- ARGV[3] the epoch of that offset                  ARGV[4] channel   ARGV[5] PUBLISH or SPUBLISH
-- Returns {head, complete (0/1), epoch, payload...}: never complete when the stream's epoch is
-- another. Offsets in the stream are contiguous and trimmed only from the oldest end, so the
-- newest (head - after) entries are exactly the ones missed.
local epoch = stream_epoch(KEYS[1], KEYS[3], ARGV[4], ARGV[5])
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if epoch ~= ARGV[3] then return {head, 0, epoch} end
local after = tonumber(ARGV[1])
if after >= head then
  if after == head then return {head, 1, epoch} end
  return {head, 0, epoch}
end
local need = head - after
if need > tonumber(ARGV[2]) or need > redis.call('XLEN', KEYS[2]) then return {head, 0, epoch} end
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', need)
local oldest = entries[#entries]
if oldest == nil or tonumber(oldest[2][2]) ~= after + 1 then return {head, 0, epoch} end
local out = {head, 1, epoch}
for i = #entries, 1, -1 do out[#out + 1] = entries[i][2][4] end
return out
