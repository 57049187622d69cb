-- Shared head of every bag_* script (prepended to each when it is registered).
-- uses: stream_lib
-- Every bag script takes the same KEYS and the same first six ARGV:
-- KEYS[1] room seq counter   KEYS[2] room history stream   KEYS[3] bag hash
-- KEYS[4] bag participants hash (user -> name)              KEYS[5] room's bag index zset
-- KEYS[6] room's current-bag hash {id, state}               KEYS[7] room's wins-per-user hash of the day
-- KEYS[8] room's stream epoch
-- KEYS[#KEYS], the last: the room's outbox stream (business events, outbox_lib.lua)
-- ARGV[1] room channel       ARGV[2] history maxlen        ARGV[3] oldest id to keep, ms (0: none)
-- ARGV[4] PUBLISH or SPUBLISH                              ARGV[5] now, epoch s   ARGV[6] bag id

-- Append one room event as publish.lua does (the core's stream_lib.lua), in this same step.
local function append_event(body)
  return stream_append(KEYS[1], KEYS[2], KEYS[8], ARGV[1], body, ARGV[2], ARGV[3], ARGV[4])
end

-- Point the room's current bag at this one's new state, if it is the current one.
local function follow_current(state)
  if redis.call('HGET', KEYS[6], 'id') == ARGV[6] then
    redis.call('HSET', KEYS[6], 'state', state)
  end
end
