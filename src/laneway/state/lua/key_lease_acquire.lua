-- Take one concurrency lease of a client key, or refuse. Mirrors MemoryKeyLimitStore.acquire.
-- KEYS[1] the key's leases: a sorted set of lease id -> expiry (wall-clock seconds).
-- ARGV: limit, now, lease_s, lease_id.
-- Returns -1 when taken, else the number of live leases (the refusal's reason).
local now = tonumber(ARGV[2])
local lease_s = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.17g', now))
local held = redis.call('ZCARD', KEYS[1])
if held >= tonumber(ARGV[1]) then return held end
redis.call('ZADD', KEYS[1], string.format('%.17g', now + lease_s), ARGV[4])
-- the set itself goes once its last lease could have expired
redis.call('PEXPIRE', KEYS[1], math.ceil(lease_s * 1000) + 1000)
return -1
