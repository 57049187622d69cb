-- Add units to a sale's stock (or take unreserved units away): stock and total move together.
-- KEYS[1] sale hash
-- ARGV[1] delta, may be negative
-- Returns {code, sale fields}: ok, not_found, or conflict when too few units are unreserved.
local stock = redis.call('HGET', KEYS[1], 'stock')
if not stock then return {'not_found', {}} end
local delta = tonumber(ARGV[1])
if tonumber(stock) + delta < 0 then return {'conflict', redis.call('HGETALL', KEYS[1])} end
redis.call('HINCRBY', KEYS[1], 'stock', delta)
redis.call('HINCRBY', KEYS[1], 'total', delta)
redis.call('HINCRBY', KEYS[1], 'version', 1)
return {'ok', redis.call('HGETALL', KEYS[1])}
