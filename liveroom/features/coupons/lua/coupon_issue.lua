-- Issue a coupon batch unless its id is taken in the room.
-- KEYS[1] the room's batches (hash: id -> terms JSON, times in ms)
-- ARGV[1] batch id         ARGV[2] terms JSON
-- Returns 1 when issued, 0 when the id is taken.
-- retry: lookup
-- A retry that finds the batch stored with these very terms answers 1: its first attempt ran.
if RETRY and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then return 1 end
return redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
