-- Drop the copies of articles published before the window, in one step, and take
-- their owners out of the linkers sets their links put them in.
-- KEYS: the recent set. ARGV: the window's start, copy-key prefix, links-key prefix,
-- linkers-key prefix.
local stale = redis.call('ZRANGE', KEYS[1], ARGV[1], '-inf', 'BYSCORE', 'REV')
for _, id in ipairs(stale) do
  local links = redis.call('GET', ARGV[3] .. id)
  if links then
    for _, link in ipairs(cjson.decode(links)) do
      redis.call('SREM', ARGV[4] .. link['article_id'], id)
    end
  end
  redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
  redis.call('ZREM', KEYS[1], id)
end
return #stale
