-- Index one article in one round trip: replace its previous postings (an update),
-- or count it (a first version; its terms are counted with the batch's, see
-- `DF_SCRIPT`); cap each posting list.
-- KEYS: count, doc, revisions. ARGV: id, published, doc JSON, max postings,
-- term-key prefix, language, the terms to post it under (its query terms, fewer than
-- the doc's, see `index.py`) in one argument, one a line (a term has no whitespace; one
-- argument, not dozens, is much less to encode and parse), and the doc's revision (see
-- `ParsedDocs`). KEYS[4]: the undo record (see `restore.lua`): the doc as it was before
-- its batch's first write, with the terms it was posted under ('' when there was none).
local id, published, doc, max_postings = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local prefix = ARGV[5]
local keys, wanted = {}, {}
for term in string.gmatch(ARGV[7], '[^\n]+') do
  local key = prefix .. ARGV[6] .. ':' .. term
  table.insert(keys, key)
  wanted[key] = true
end
local previous = redis.call('GET', KEYS[2])
if previous then
  -- The doc lists more terms than it was posted under: which ones were is read from the
  -- postings themselves (an update is rare), for an undo to post it back under the same.
  local old, posted = cjson.decode(previous), {}
  for term, _ in pairs(old['terms']) do
    local key = prefix .. old['lang'] .. ':' .. term
    if wanted[key] then
      if redis.call('ZSCORE', key, id) then posted[#posted + 1] = term end
    elseif redis.call('ZREM', key, id) == 1 then
      posted[#posted + 1] = term
    end
  end
  redis.call('HSETNX', KEYS[4], id, (redis.call('HGET', KEYS[3], id) or '') .. '\n'
             .. table.concat(posted, ' ') .. '\n' .. previous)
else
  redis.call('HSETNX', KEYS[4], id, '')
  redis.call('INCR', KEYS[1])
end
for _, key in ipairs(keys) do
  redis.call('ZADD', key, published, id)
  if redis.call('ZCARD', key) > max_postings then
    redis.call('ZREMRANGEBYRANK', key, 0, -max_postings - 1)
  end
end
redis.call('SET', KEYS[2], doc)
redis.call('HSET', KEYS[3], id, ARGV[8])
return previous and 0 or 1
