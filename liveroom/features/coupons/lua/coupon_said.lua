-- A user commented some text: open every keyword batch of the room whose keyword it is, and
-- whose window has not ended, to that user's claim.
-- KEYS[1] the room's batches       KEYS[2] claimed per batch
-- KEYS[3] keyword said (hash: batch "\n" user -> 1)
-- ARGV[1] user             ARGV[2] comment text
-- Returns the ids of the batches opened to this user now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, raw in ipairs(redis.call('HVALS', KEYS[1])) do
  local b = cjson.decode(raw)
  if b.eligibility == 'keyword' and b.keyword == ARGV[2] and (b['end'] == 0 or now < b['end'])
    and tonumber(redis.call('HGET', KEYS[2], b.id) or '0') < b.count
    and redis.call('HSETNX', KEYS[3], b.id .. '\n' .. ARGV[1], 1) == 1 then
    out[#out + 1] = b.id
  end
end
return out
