-- Take one article out of the index, whatever terms its indexed version had.
-- KEYS: its doc, the revisions, the undo record (see `restore.lua`). ARGV: id, term-key
-- prefix. Returns 1 when it was indexed.
local previous = redis.call('GET', KEYS[1])
if not previous then return 0 end
redis.call('HSETNX', KEYS[3], ARGV[1], (redis.call('HGET', KEYS[2], ARGV[1]) or '') .. '\n' .. previous)
local old = cjson.decode(previous)
for term, _ in pairs(old['terms']) do
  redis.call('ZREM', ARGV[2] .. old['lang'] .. ':' .. term, ARGV[1])
end
redis.call('DEL', KEYS[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
