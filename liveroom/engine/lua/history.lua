-- Events after an offset, when history still holds all of them.
-- KEYS[1] seq counter      KEYS[2] history stream
-- ARGV[1] after (offset)   ARGV[2] most events to return
-- Returns {head, complete (0/1), payload...}. Offsets in the stream are contiguous and trimmed
-- only from the oldest end, so the newest (head - after) entries are exactly the ones missed.
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
local after = tonumber(ARGV[1])
if after >= head then
  if after == head then return {head, 1} end
  return {head, 0}
end
local need = head - after
if need > tonumber(ARGV[2]) or need > redis.call('XLEN', KEYS[2]) then return {head, 0} end
local entries = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', need)
local oldest = entries[#entries]
if oldest == nil or tonumber(oldest[2][2]) ~= after + 1 then return {head, 0} end
local out = {head, 1}
for i = #entries, 1, -1 do out[#out + 1] = entries[i][2][4] end
return out
