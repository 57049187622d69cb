-- Trim one room's outbox by age and count, and count, for each consumer group, the events
-- trimmed before the group read them: the feed reports those (metric and log), so that a
-- consumer falling behind the bound is never skipped in silence.
-- retry: safe
-- KEYS[1] the room's outbox stream
-- ARGV[1] most events kept   ARGV[2] oldest time kept, ms (0: no age bound)
-- Returns {events removed, group name, events it lost, group name, events it lost, ...}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end

local function parse(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
local function before(a, b)  -- stream id a < stream id b
  local am, as = parse(a)
  local bm, bs = parse(b)
  return am < bm or (am == bm and as < bs)
end

-- the first id that stays: by age, then by count, whichever cuts more
local cut = nil
local oldest = tonumber(ARGV[2])
if oldest > 0 then cut = oldest .. '-0' end
local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if excess > 0 then
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess + 1)
  local by_count = head[#head][1]
  if #head <= excess then by_count = nil end
  if by_count and (cut == nil or before(cut, by_count)) then cut = by_count end
end
if cut == nil then return {0} end

local out = {0}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local name, last
  for i = 1, #g, 2 do
    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then last = g[i + 1] end
  end
  if before(last, cut) then
    local lost = #redis.call('XRANGE', KEYS[1], '(' .. last, '(' .. cut)
    if lost > 0 then
      out[#out + 1] = name
      out[#out + 1] = lost
    end
  end
end
out[1] = redis.call('XTRIM', KEYS[1], 'MINID', cut)
return out
