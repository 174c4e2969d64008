-- Drop a withdrawn article's copy and links, and take it out of the linkers sets its
-- links put it in (its own linkers set follows their lists: see `save_copies.lua`).
-- KEYS: the recent set. ARGV: id, copy-key prefix, links-key prefix, linkers-key prefix.
local id = ARGV[1]
local links = redis.call('GET', ARGV[3] .. id)
if links then
  for _, link in ipairs(cjson.decode(links)) do
    redis.call('SREM', ARGV[4] .. link['article_id'], id)
  end
end
redis.call('DEL', ARGV[2] .. id, ARGV[3] .. id)
redis.call('ZREM', KEYS[1], id)
return 1
