-- Take one article out of the index, whatever terms its indexed version had.
-- KEYS: its doc, the revisions, the undo record (see `restore.lua`). ARGV: id, term-key
-- prefix. Returns 1 when it was indexed.
local previous = redis.call('GET', KEYS[1])
if not previous then return 0 end
-- It was posted under some of its terms only (see `index.lua`): those the undo re-posts.
local old, posted = cjson.decode(previous), {}
for term, _ in pairs(old['terms']) do
  if redis.call('ZREM', ARGV[2] .. old['lang'] .. ':' .. term, ARGV[1]) == 1 then
    posted[#posted + 1] = term
  end
end
redis.call('HSETNX', KEYS[3], ARGV[1], (redis.call('HGET', KEYS[2], ARGV[1]) or '') .. '\n'
           .. table.concat(posted, ' ') .. '\n' .. previous)
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
