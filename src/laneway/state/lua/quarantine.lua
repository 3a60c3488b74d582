-- One credential-quarantine step (quarantine_step.lua, which comes first in the script).
-- KEYS[1] the profile's hash. ARGV: op (check | bar | clear | release), now, cooldown_s.
-- Returns 'clear', 'probe' or 'quarantined'.
return quarantine_step(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
