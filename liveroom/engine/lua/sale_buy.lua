-- Buy: replay the stored answer for this request id, or check the window, the user's limit
-- and the stock and then reserve; all in one atomic step, so stock is never oversold.
-- KEYS[1] sale hash        KEYS[2] units held per user (hash: reserved + paid)
-- KEYS[3] orders (hash: id -> order JSON)    KEYS[4] order log (list of ids: the ledger)
-- KEYS[5] payment deadlines (zset: reserved order id -> ms)
-- KEYS[6] answers (hash: user "\n" request id -> answer JSON)
-- ARGV[1] sale id          ARGV[2] user             ARGV[3] request id     ARGV[4] quantity
-- Returns {code, answer JSON or false, stock left, 1 if this call reserved else 0}. code is ok,
-- sold_out, limit_reached, not_started, ended, not_found, or replay (the stored answer again).
local s = redis.call('HMGET', KEYS[1], 'status', 'start', 'end', 'limit', 'stock', 'payment')
if not s[1] then return {'not_found', false, 0, 0} end
local stock = tonumber(s[5])
local key = ARGV[2] .. '\n' .. ARGV[3]
local stored = redis.call('HGET', KEYS[6], key)
if stored then return {'replay', stored, stock, 0} end
local qty = tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local start_ms, end_ms = tonumber(s[2]), tonumber(s[3])
local code = 'ok'
if s[1] == 'created' or (start_ms > 0 and now < start_ms) then
  code = 'not_started'
elseif s[1] == 'closed' or (end_ms > 0 and now >= end_ms) then
  code = 'ended'
elseif (tonumber(redis.call('HGET', KEYS[2], ARGV[2])) or 0) + qty > tonumber(s[4]) then
  code = 'limit_reached'
elseif stock < qty then
  code = 'sold_out'
end
if code ~= 'ok' then
  local answer = cjson.encode({status = code, quantity = qty})
  redis.call('HSET', KEYS[6], key, answer)
  return {code, answer, stock, 0}
end
stock = redis.call('HINCRBY', KEYS[1], 'stock', -qty)
redis.call('HINCRBY', KEYS[1], 'reserved', qty)
redis.call('HINCRBY', KEYS[1], 'version', 1)
local id = ARGV[1] .. '-' .. redis.call('HINCRBY', KEYS[1], 'seq', 1)
local deadline = now + tonumber(s[6])
redis.call('HSET', KEYS[3], id, cjson.encode({
  id = id, user = ARGV[2], quantity = qty, status = 'reserved', deadline = deadline,
  request = ARGV[3], created = now}))
redis.call('RPUSH', KEYS[4], id)
redis.call('ZADD', KEYS[5], deadline, id)
redis.call('HINCRBY', KEYS[2], ARGV[2], qty)
local answer = cjson.encode({status = 'ok', order = id, deadline = deadline, quantity = qty})
redis.call('HSET', KEYS[6], key, answer)
return {'ok', answer, stock, 1}
