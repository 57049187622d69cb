-- Many rooms' analytics batches from one node in one call (analytics_lib.lua), for a standalone
-- Redis only: the rooms' keys sit in different Cluster slots.
-- KEYS[8i-7..8i] room i's keys, in analytics_lib.lua's order
-- ARGV[1] keep seconds   ARGV[i + 1] room i's batch as JSON (analytics_lib.lua)
-- retry: lookup
-- Returns one entry per room: 1 when written, else the error its write met, as text. Each room
-- is written as a call of its own would be: an error ends that room's write only (what it had
-- written before the error stays, as it would), and the next room is written.
local out = {}
for i = 1, #ARGV - 1 do
  local ok, err = pcall(write_room, 8 * (i - 1), ARGV[i + 1], ARGV[1])
  if ok then
    out[i] = 1
  else
    out[i] = type(err) == 'table' and (err.err or err.msg) or tostring(err)
  end
end
return out
