-- Keep the copies and links of a newly enriched article and of those it refreshed, in
-- one command (three per article were a large share of the client's work); a
-- refreshed article's copy stays as it was (see `RecentCopies.save`). The reverse
-- index follows the links: each article a list links to has that list's owner in its
-- linkers set (who links to me), which lives at least as long as the links in it. A
-- newly enriched article joins its story's members, which keep the copies' window.
-- Links expire with their copy: a refresh keeps their expiry, so only the targets it
-- adds need their linkers sets to live longer (most of a refresh's targets were in the
-- list already); a new copy renews the links' expiry, so every target's too.
-- KEYS: the recent set. ARGV: ttl, copy-key prefix, links-key prefix, linkers-key
-- prefix, story-key prefix, the copies' window (seconds), then per article: id,
-- published, links JSON, compressed copy (empty: none), the ids its links point at,
-- one a line, its story (empty: unchanged).
local ttl, copy_prefix, links_prefix, linkers_prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local story_prefix, window = ARGV[5], tonumber(ARGV[6])
for i = 7, #ARGV, 6 do
  local id = ARGV[i]
  local key = links_prefix .. id
  local copied = ARGV[i + 3] ~= ''
  local gone = {}
  local old = redis.call('GET', key)
  if old then
    for _, link in ipairs(cjson.decode(old)) do gone[link['article_id']] = true end
  end
  -- The links first: their copy and their targets' linkers sets expire no sooner.
  if copied or not old then
    redis.call('SET', key, ARGV[i + 2], 'EX', ttl)
  else
    redis.call('SET', key, ARGV[i + 2], 'KEEPTTL')
  end
  if copied then redis.call('SET', copy_prefix .. id, ARGV[i + 3], 'EX', ttl) end
  for target in string.gmatch(ARGV[i + 4], '[^\n]+') do
    local kept = gone[target]
    gone[target] = nil
    if not kept then redis.call('SADD', linkers_prefix .. target, id) end
    if copied or not kept then redis.call('EXPIRE', linkers_prefix .. target, ttl) end
  end
  for target, _ in pairs(gone) do redis.call('SREM', linkers_prefix .. target, id) end
  redis.call('ZADD', KEYS[1], ARGV[i + 1], id)
  if ARGV[i + 5] ~= '' then
    local story = story_prefix .. ARGV[i + 5]
    redis.call('ZADD', story, ARGV[i + 1], id)
    redis.call('ZREMRANGEBYSCORE', story, '-inf',
               '(' .. string.format('%.17g', tonumber(ARGV[i + 1]) - window))
    redis.call('EXPIRE', story, ttl)
  end
end
return 1
