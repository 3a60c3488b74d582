-- One credential-quarantine step, atomically. Mirrors laneway/state/quarantine_record.py:
-- change one, change the other, and run tests/conformance/test_state_stores.py.
-- The step itself, for the scripts that run it (quarantine.lua, gate.lua).
-- key: the profile's hash; op: check | bar | clear | release.
-- Returns 'clear', 'probe' or 'quarantined'.
local function quarantine_step(key, op, now, cooldown_s)
  local function fmt(x)
    return string.format('%.17g', x)
  end

  if op == 'bar' then
    redis.call('DEL', key)
    redis.call('HSET', key, 'since', fmt(now))
    -- a record nobody asks about again goes by itself, long after its cooldown
    redis.call('EXPIRE', key, math.ceil(cooldown_s * 10) + 60)
    return 'quarantined'
  end
  local fields = redis.call('HMGET', key, 'since', 'probe_at')
  if op == 'clear' or not fields[1] then
    redis.call('DEL', key)
    return 'clear'
  end
  local since = tonumber(fields[1])
  local probe_at = tonumber(fields[2])
  if op == 'release' then
    redis.call('HDEL', key, 'probe_at')
    return 'quarantined'
  end
  if now < since + cooldown_s then return 'quarantined' end
  if probe_at == nil or now - probe_at >= cooldown_s then
    redis.call('HSET', key, 'probe_at', fmt(now))
    return 'probe'
  end
  return 'quarantined'
end
