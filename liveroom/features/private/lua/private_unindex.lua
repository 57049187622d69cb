-- Take a room out of the sweepers' index of booking rounds, unless it was scheduled again
-- since the caller read its score (a new round re-adds it with a new score first).
-- retry: safe
-- KEYS[1] the index (sorted set: room -> when last scheduled, ms)
-- ARGV[1] room    ARGV[2] the score the caller read
-- Returns 1 when taken out.
if tonumber(redis.call('ZSCORE', KEYS[1], ARGV[1])) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
