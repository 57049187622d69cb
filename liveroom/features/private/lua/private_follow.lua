-- Follow or unfollow a host. The host's follower set and the outbox its events go to share
-- the host's hash tag (``{room:host.<id>}``, or the room's own for a room that is its own
-- host), so the change and its event are one step on one Cluster slot.
-- KEYS[1] the host's followers (set)      KEYS[2] the host scope's outbox stream
-- ARGV[1] user id                         ARGV[2] 'follow' or 'unfollow'
-- ARGV[3] the host id ('' for a room that is its own host)
-- ARGV[4] the room the follow came from
-- Returns {1 when it changed anything else 0, followers after}.
local changed
if ARGV[2] == 'follow' then
  changed = redis.call('SADD', KEYS[1], ARGV[1])
else
  changed = redis.call('SREM', KEYS[1], ARGV[1])
end
local followers = redis.call('SCARD', KEYS[1])
if changed == 1 then
  local host = cjson.null
  if ARGV[3] ~= '' then host = ARGV[3] end
  local etype = 'user.unfollowed'
  if ARGV[2] == 'follow' then etype = 'user.followed' end
  outbox(KEYS[2], etype, {user = ARGV[1], host = host, in_room = ARGV[4], followers = followers})
end
return {changed, followers}
