-- Keep the copies and links of a newly enriched article and of those it refreshed, in
-- one command (three per article were a large share of the client's work); a
-- refreshed article's copy stays as it was (see `RecentCopies.save`).
-- KEYS: the recent set. ARGV: ttl, copy-key prefix, links-key prefix, then per
-- article: id, published, links JSON, compressed copy (empty: none).
local ttl, copy_prefix, links_prefix = ARGV[1], ARGV[2], ARGV[3]
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  if ARGV[i + 3] ~= '' then redis.call('SET', copy_prefix .. id, ARGV[i + 3], 'EX', ttl) end
  redis.call('SET', links_prefix .. id, ARGV[i + 2], 'EX', ttl)
  redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
end
return 1
