-- Commit or refund one reservation, exactly once. Mirrors MemoryBudgetStore.commit.
-- KEYS[1] the reservation's marker, KEYS[2..] one hash per scope.
-- ARGV: -reserved_nanos, -reserved_tokens, actual_nanos, actual_tokens (integers as text;
-- a refund commits 0 actual). Returns 1 when settled now, 0 when it was settled before.
if redis.call('DEL', KEYS[1]) == 0 then return 0 end
local fields = {'reserved_nanos', 'reserved_tokens', 'spent_nanos', 'spent_tokens'}
for i = 2, #KEYS do
  for f = 1, 4 do
    if tonumber(ARGV[f]) ~= 0 then
      redis.call('HINCRBY', KEYS[i], fields[f], ARGV[f])
    end
  end
end
return 1
