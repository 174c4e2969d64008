-- KEYS: the versions hash, the claimed entries hash. ARGV: (id, version, entry) per
-- article, `entry` the claimed event's id on the enriched stream ("" for a
-- withdrawal). Claims each article unless a newer version was already claimed,
-- and records where the claimed event is (see `Indexer.settle`).
-- Equal versions pass: a retry after a crash must be able to re-apply.
local passed = {}
for i = 1, #ARGV, 3 do
  local id, version = ARGV[i], tonumber(ARGV[i + 1])
  local known = tonumber(redis.call('HGET', KEYS[1], id) or '0')
  if version >= known then
    redis.call('HSET', KEYS[1], id, version)
    redis.call('HSET', KEYS[2], id, ARGV[i + 2])
    table.insert(passed, id)
  end
end
return passed
