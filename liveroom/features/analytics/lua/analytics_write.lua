-- Add one node's analytics batch to its room (analytics_lib.lua), and keep every key of it
-- ARGV[2] seconds more: the write of a room with newcomers, and of every room on a Cluster.
-- KEYS[1..8] the room's keys, in analytics_lib.lua's order
-- ARGV[1] the batch as JSON (analytics_lib.lua)   ARGV[2] keep seconds
-- retry: lookup
return write_room(0, ARGV[1], ARGV[2])
