-- Add to a client key's spend in one period. Mirrors MemoryKeyLimitStore.add_spend.
-- KEYS[1] the counter of (key, period). ARGV: nanos (integer text), ttl_s ('' keeps it).
-- Returns the new total in nano-USD.
local total = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl then redis.call('EXPIRE', KEYS[1], math.ceil(ttl)) end
return total
