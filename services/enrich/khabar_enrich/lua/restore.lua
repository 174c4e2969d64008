-- Undo what a batch that never finished wrote to the index, before its articles are
-- enriched again. A batch writes each article's doc and postings as it goes (see
-- `pipes.py`) and everything else at its end, in one transaction that also drops the
-- undo records of its articles. A record left behind is an article whose batch stopped
-- in between: the batch redelivered must see the index as that batch first saw it
-- (its later articles not indexed yet, their terms not yet counted), or it would leave
-- other related lists and frequencies than the batch left without the stop.
-- A record is the doc before the batch's first write, after its revision and the terms it
-- was posted under (a line each), or '' when the article was not indexed (that write
-- counted it: uncounted here). A record without the terms' line (the doc right after the
-- revision, as written before only the query terms were posted) re-posts every term.
-- KEYS: the undo records, the doc count, the revisions. ARGV: term-key prefix,
-- doc-key prefix, then the ids of the articles about to be enriched.
local prefix = ARGV[1]
local restored = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  local record = redis.call('HGET', KEYS[1], id)
  if record then
    local key = ARGV[2] .. id
    local current = redis.call('GET', key)
    if current then
      local doc = cjson.decode(current)
      for term, _ in pairs(doc['terms']) do redis.call('ZREM', prefix .. doc['lang'] .. ':' .. term, id) end
    end
    if record == '' then
      redis.call('DEL', key)
      redis.call('HDEL', KEYS[3], id)
      redis.call('DECR', KEYS[2])
    else
      local cut = string.find(record, '\n', 1, true)
      local previous = string.sub(record, cut + 1)
      local posted = nil
      if string.sub(previous, 1, 1) ~= '{' then
        local line = string.find(previous, '\n', 1, true)
        posted = string.sub(previous, 1, line - 1)
        previous = string.sub(previous, line + 1)
      end
      local doc = cjson.decode(previous)
      local at = string.format('%.17g', doc['pub'])
      if posted then
        for term in string.gmatch(posted, '%S+') do
          redis.call('ZADD', prefix .. doc['lang'] .. ':' .. term, at, id)
        end
      else
        for term, _ in pairs(doc['terms']) do
          redis.call('ZADD', prefix .. doc['lang'] .. ':' .. term, at, id)
        end
      end
      redis.call('SET', key, previous)
      redis.call('HSET', KEYS[3], id, string.sub(record, 1, cut - 1))
    end
    redis.call('HDEL', KEYS[1], id)
    restored = restored + 1
  end
end
return restored
