-- Read a sale's ledger in one consistent step, for the audit.
-- retry: safe
-- KEYS[1] sale hash        KEYS[2] units held per user      KEYS[3] orders
-- KEYS[4] order log
-- Returns {sale fields, held fields, order JSONs, order ids in creation order}.
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[2]),
  redis.call('HVALS', KEYS[3]),
  redis.call('LRANGE', KEYS[4], 0, -1),
}
