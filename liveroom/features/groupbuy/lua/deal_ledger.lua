-- Read a deal's ledger in one consistent step, for the audit.
-- retry: safe
-- KEYS[1] deal hash        KEYS[2] units held per user      KEYS[3] groups
-- KEYS[4] orders
-- Returns {deal fields, held fields, group JSONs, order JSONs}.
return {
  redis.call('HGETALL', KEYS[1]),
  redis.call('HGETALL', KEYS[2]),
  redis.call('HVALS', KEYS[3]),
  redis.call('HVALS', KEYS[4]),
}
