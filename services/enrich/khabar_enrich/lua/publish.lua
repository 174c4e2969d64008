-- Append a batch's events to the enriched stream, each article's at most once: a batch
-- redelivered after it published (and before it finished) makes the same events again.
-- The events of one article event (its `article.enriched` or `article.withdrawn`, and
-- the refreshes it caused) are one item, appended only when its version is newer than
-- the one marked as published for that article; the mark expires (it only has to
-- outlive a redelivery).
-- KEYS: the stream. ARGV: mark-key prefix, mark ttl, then per item: article id, version,
-- entries; per entry: its field count times two, then its fields and values.
local stream, prefix, ttl = KEYS[1], ARGV[1], ARGV[2]
local i, added = 3, 0
while i <= #ARGV do
  local id, version, entries = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  local mark = prefix .. id
  local fresh = version > tonumber(redis.call('GET', mark) or '0')
  for _ = 1, entries do
    local parts = tonumber(ARGV[i])
    if fresh then
      redis.call('XADD', stream, '*', unpack(ARGV, i + 1, i + parts))
      added = added + 1
    end
    i = i + 1 + parts
  end
  if fresh then redis.call('SET', mark, version, 'EX', ttl) end
end
return added
