-- Store a red packet with its amounts split up front.
-- KEYS[1] packets hash (id -> public JSON)   KEYS[2] packets-left hash (id -> packets left)
-- KEYS[3] active zset (id -> creation order) KEYS[4] keywords hash (keyword -> ids, spaced)
-- KEYS[5] this packet's amounts list         KEYS[6] this packet's tally hash
-- ARGV[1] id   ARGV[2] public JSON   ARGV[3] keyword or ''   ARGV[4] opens at, ms
-- ARGV[5] key lifetime, s   ARGV[6...] amounts in fen
-- Returns 1, or 0 when the id is taken.
-- retry: lookup
-- A retry that finds the packet stored with this very public JSON answers 1: it is its own.
if RETRY and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 1 end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
local total, count = 0, #ARGV - 5
for i = 6, #ARGV, 1000 do
  local chunk = {}
  for j = i, math.min(i + 999, #ARGV) do
    chunk[#chunk + 1] = ARGV[j]
    total = total + tonumber(ARGV[j])
  end
  redis.call('RPUSH', KEYS[5], unpack(chunk))
end
redis.call('HSET', KEYS[2], ARGV[1], count)
redis.call('ZADD', KEYS[3], redis.call('HLEN', KEYS[1]), ARGV[1])
local keyword = ARGV[3]
if keyword ~= '' then
  local ids = redis.call('HGET', KEYS[4], keyword)
  redis.call('HSET', KEYS[4], keyword, ids and (ids .. ' ' .. ARGV[1]) or ARGV[1])
end
redis.call('HSET', KEYS[6], 'total', total, 'count', count, 'open_ms', ARGV[4],
  'keyword', keyword, 'ttl', ARGV[5], 'grabbed', 0, 'grabbed_fen', 0)
for i = 1, 6 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return 1
