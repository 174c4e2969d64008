-- KEYS: the by-article aliases hash, the hash of each article's recorded
-- version, the aliases' version counter. ARGV: (id, version, aliases) per
-- article, aliases as the JSON list of alias keys, '' for none. Records each
-- article's aliases unless a newer version's were recorded already (a slow
-- replica's batch landing last), and bumps the counter when anything changed.
-- Equal versions pass: a redelivered batch records the same again.
local changed = false
for i = 1, #ARGV, 3 do
  local id, version, aliases = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  local known = tonumber(redis.call('HGET', KEYS[2], id) or '0')
  if version >= known then
    redis.call('HSET', KEYS[2], id, version)
    if (redis.call('HGET', KEYS[1], id) or '') ~= aliases then
      changed = true
      if aliases == '' then
        redis.call('HDEL', KEYS[1], id)
      else
        redis.call('HSET', KEYS[1], id, aliases)
      end
    end
  end
end
if changed then
  redis.call('INCR', KEYS[3])
end
return changed and 1 or 0
