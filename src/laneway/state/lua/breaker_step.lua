-- One circuit-breaker transition, atomically. Mirrors laneway/state/breaker_record.py:
-- change one, change the other, and run tests/conformance/test_state_stores.py.
-- The step itself, for the scripts that run it (breaker.lua, gate.lua).
-- key: the breaker's hash; registry: the set of known breaker names; name: the breaker's.
-- Returns {old_state, new_state, allowed (0/1), probe (0/1)}.
local function breaker_step(key, registry, op, now, threshold, window_s, open_s,
                            probe_timeout_s, name)
  local fields = redis.call('HMGET', key, 'state', 'opened_at', 'probe_at', 'failures')
  local state = fields[1] or 'closed'
  local opened_at = tonumber(fields[2]) or 0
  local probe_at = tonumber(fields[3])

  local function fmt(x)
    return string.format('%.17g', x)
  end

  local function save(new_state, new_opened_at, new_probe_at, failures)
    local probe = ''
    if new_probe_at then probe = fmt(new_probe_at) end
    redis.call('HSET', key, 'state', new_state, 'opened_at', fmt(new_opened_at),
      'probe_at', probe, 'failures', failures)
    redis.call('SADD', registry, name)
  end

  if op == 'admit' then
    if state == 'closed' then return {state, state, 1, 0} end
    if state == 'open' and now < opened_at + open_s then return {state, state, 0, 0} end
    if state == 'open' or probe_at == nil or now - probe_at >= probe_timeout_s then
      save('half_open', opened_at, now, '')
      return {state, 'half_open', 1, 1}
    end
    return {state, state, 0, 0}
  end

  if op == 'success' then
    if state == 'open' then return {state, state, 1, 0} end
    if fields[1] then
      redis.call('DEL', key)
      redis.call('SADD', registry, name)
    end
    return {state, 'closed', 1, 0}
  end

  if op == 'failure' then
    if state == 'open' then return {state, state, 1, 0} end
    if state == 'half_open' then
      save('open', now, nil, '')
      return {state, 'open', 1, 0}
    end
    local recent = {}
    for text in string.gmatch(fields[4] or '', '%S+') do
      local t = tonumber(text)
      if t > now - window_s then table.insert(recent, t) end
    end
    table.insert(recent, now)
    if #recent >= threshold then
      save('open', now, nil, '')
      return {state, 'open', 1, 0}
    end
    local kept = {}
    for i = math.max(1, #recent - threshold + 1), #recent do
      table.insert(kept, fmt(recent[i]))
    end
    save('closed', 0, nil, table.concat(kept, ' '))
    return {state, state, 1, 0}
  end

  -- release: a probe gave up without an answer; free its slot.
  if state == 'half_open' then save('half_open', opened_at, nil, '') end
  return {state, state, 1, 0}
end
