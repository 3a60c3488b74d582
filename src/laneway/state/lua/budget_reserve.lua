-- Reserve in every budget scope, or in none. Mirrors MemoryBudgetStore.reserve.
-- KEYS[1] the reservation's marker, KEYS[2] the set of scope names, KEYS[3..] one hash
-- per scope. ARGV: nanos, tokens, marker_ttl_s, then per scope: its name, usd limit in
-- nanos, token limit ('' where there is no limit).
-- Returns {} when reserved, else {scope index (1-based), unit, limit,
-- spent_nanos, reserved_nanos, spent_tokens, reserved_tokens} for the first refusal.
local nanos = tonumber(ARGV[1])
local tokens = tonumber(ARGV[2])
local marker_ttl = tonumber(ARGV[3])

-- scope j (1-based) is KEYS[j + 2] with ARGV[3j + 1 .. 3j + 3]
for j = 1, #KEYS - 2 do
  local u = redis.call('HMGET', KEYS[j + 2], 'spent_nanos', 'reserved_nanos',
    'spent_tokens', 'reserved_tokens')
  local sn, rn = tonumber(u[1]) or 0, tonumber(u[2]) or 0
  local st, rt = tonumber(u[3]) or 0, tonumber(u[4]) or 0
  local usd_limit = tonumber(ARGV[3 * j + 2])
  local token_limit = tonumber(ARGV[3 * j + 3])
  if usd_limit and sn + rn + nanos > usd_limit then
    return {j, 'usd', usd_limit, sn, rn, st, rt}
  end
  if token_limit and st + rt + tokens > token_limit then
    return {j, 'tokens', token_limit, sn, rn, st, rt}
  end
end

for j = 1, #KEYS - 2 do
  redis.call('HINCRBY', KEYS[j + 2], 'reserved_nanos', ARGV[1])
  redis.call('HINCRBY', KEYS[j + 2], 'reserved_tokens', ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3 * j + 1])
end
redis.call('SET', KEYS[1], '1', 'EX', marker_ttl)
return {}
