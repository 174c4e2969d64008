-- Forget a group's dead consumers: those idle at least ARGV[2] ms that hold no pending entry.
-- KEYS[1]: the stream. ARGV[1]: the group; ARGV[2]: the idle bound (ms); ARGV[3]: the caller's
-- own consumer name (never forgotten). Returns a flat list: name, idle ms, name, idle ms...
-- One script, so no read can hand a consumer an entry between the look and the delete
-- (XGROUP DELCONSUMER drops a consumer's pending entries with it: they would never be handled).
-- A consumer that still holds entries stays until the claim path (XAUTOCLAIM) has taken them.
local forgotten = {}
local bound = tonumber(ARGV[2])
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for i = 1, #consumer, 2 do
    fields[consumer[i]] = consumer[i + 1]
  end
  local name = fields['name']
  if name ~= ARGV[3] and tonumber(fields['pending']) == 0 and tonumber(fields['idle']) >= bound then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], name)
    table.insert(forgotten, name)
    table.insert(forgotten, fields['idle'])
  end
end
return forgotten
