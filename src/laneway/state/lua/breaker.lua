-- One circuit-breaker transition (breaker_step.lua, which comes first in the script).
-- KEYS[1] the breaker's hash, KEYS[2] the set of known breaker names.
-- ARGV: op, now, failure_threshold, window_s, open_s, probe_timeout_s, name.
-- Returns {old_state, new_state, allowed (0/1), probe (0/1)}.
return breaker_step(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
