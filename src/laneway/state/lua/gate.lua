-- A call's gate in one round trip: its credential's quarantine check, then, unless the
-- credential is quarantined, its breaker's admission (quarantine_step.lua and
-- breaker_step.lua come first in the script). Mirrors laneway/state/memory.py's `gate`.
-- KEYS[1] the profile's hash, KEYS[2] the breaker's hash, KEYS[3] the breaker names' set.
-- ARGV: now, cooldown_s, failure_threshold, window_s, open_s, probe_timeout_s, name.
-- Returns {verdict} when quarantined, else {verdict, old_state, new_state, allowed, probe}.
local now = tonumber(ARGV[1])
local verdict = quarantine_step(KEYS[1], 'check', now, tonumber(ARGV[2]))
if verdict == 'quarantined' then return {verdict} end
local outcome = breaker_step(KEYS[2], KEYS[3], 'admit', now, tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), ARGV[7])
return {verdict, outcome[1], outcome[2], outcome[3], outcome[4]}
