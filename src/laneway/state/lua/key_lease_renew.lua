-- Renew one held lease of a client key. Mirrors MemoryKeyLimitStore.renew.
-- KEYS[1] the key's leases (sorted set). ARGV: now, lease_s, lease_id.
-- Returns 1 when renewed, 0 when the lease had expired or was never held.
local now = tonumber(ARGV[1])
local lease_s = tonumber(ARGV[2])
local expiry = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]))
if expiry == nil or expiry <= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', string.format('%.17g', now + lease_s), ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(lease_s * 1000) + 1000)
return 1
