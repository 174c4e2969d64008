-- KEYS: the versions hash, then one copy key per article. ARGV: the copies'
-- TTL, then (id, version, copy) per article. Claims each article unless a
-- newer version was already claimed, and stores the copy of what it claimed.
-- Equal versions pass: a retry after a crash must be able to re-apply.
local passed = {}
for n = 2, #KEYS do
  local i = 2 + (n - 2) * 3
  local id, version, copy = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local known = tonumber(redis.call('HGET', KEYS[1], id) or '0')
  if version >= known then
    redis.call('HSET', KEYS[1], id, version)
    redis.call('SET', KEYS[n], copy, 'EX', ARGV[1])
    table.insert(passed, id)
  end
end
return passed
