-- Shared head of every packet_* script (prepended to each when it is registered).
-- KEYS[1] packets hash   KEYS[2] packets-left hash   KEYS[3] active zset   KEYS[4] keywords hash

-- Take packet ``id`` off keyword ``word``'s list of open packets (no-op for no keyword).
local function drop_keyword(id, word)
  if type(word) ~= 'string' or word == '' then return end
  local rest = {}
  for other in string.gmatch(redis.call('HGET', KEYS[4], word) or '', '%S+') do
    if other ~= id then rest[#rest + 1] = other end
  end
  if #rest > 0 then
    redis.call('HSET', KEYS[4], word, table.concat(rest, ' '))
  else
    redis.call('HDEL', KEYS[4], word)
  end
end

-- Forget a packet whose own keys have expired: drop it from the room-wide hashes, the active
-- index and its keyword's list, so it is neither listed nor grabbed any more. ``meta`` is its
-- public JSON (or nil), read for the keyword.
local function forget_packet(id, meta)
  redis.call('HDEL', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('ZREM', KEYS[3], id)
  local ok, decoded = false, nil
  if meta then ok, decoded = pcall(cjson.decode, meta) end
  drop_keyword(id, ok and type(decoded) == 'table' and decoded.keyword or nil)
end
