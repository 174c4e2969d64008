-- A story's members published nearest to an article (before it or after it, within the
-- window), for the refresh: the candidates read is bounded, and a story told more often
-- than it reads has members whose lists a new telling enters without being their
-- candidate. Per member as `candidates.lua` returns a candidate: id, revision, doc
-- (only when the client may not know the revision), links (false when none kept).
-- Members already known to the client (its candidates) are passed, and skipped: the
-- `limit` counts only the others.
-- KEYS: the story's members (scored by publication time), the revisions. ARGV: the
-- article's published, window start, window end, how many, own id, doc-key prefix,
-- links-key prefix, the client's revision prefix and the lowest count it remembers,
-- the ids to skip, one a line.
local anchor, limit = tonumber(ARGV[1]), tonumber(ARGV[4])
local client, client_since = ARGV[8], tonumber(ARGV[9])
local skip, skipped = {[ARGV[5]] = true}, 1
for id in string.gmatch(ARGV[10], '[^\n]+') do
  skip[id] = true
  skipped = skipped + 1
end
local before = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'BYSCORE', 'REV',
                          'LIMIT', 0, limit + skipped, 'WITHSCORES')
local after = redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], ARGV[3], 'BYSCORE',
                         'LIMIT', 0, limit + skipped, 'WITHSCORES')
local ids, b, a = {}, 1, 1
while #ids < limit and (b <= #before or a <= #after) do
  local id
  if b <= #before and (a > #after
      or anchor - tonumber(before[b + 1]) <= tonumber(after[a + 1]) - anchor) then
    id, b = before[b], b + 2
  else
    id, a = after[a], a + 2
  end
  if not skip[id] then ids[#ids + 1] = id end
end
if #ids == 0 then return {} end
local revs = redis.call('HMGET', KEYS[2], unpack(ids))
local links_keys, bare_keys, bare_of = {}, {}, {}
for i = 1, #ids do
  links_keys[i] = ARGV[7] .. ids[i]
  local rev = revs[i]
  local forgotten = rev and string.sub(rev, 1, #client) == client
    and tonumber(string.sub(rev, #client + 1)) < client_since
  if not rev or forgotten then
    table.insert(bare_keys, ARGV[6] .. ids[i])
    bare_of[i] = #bare_keys
  end
end
local docs = #bare_keys > 0 and redis.call('MGET', unpack(bare_keys)) or {}
local links = redis.call('MGET', unpack(links_keys))
local found = {}
for i = 1, #ids do
  local doc = bare_of[i] and docs[bare_of[i]] or false
  if revs[i] or doc then
    table.insert(found, ids[i])
    table.insert(found, revs[i] or false)
    table.insert(found, doc)
    table.insert(found, links[i])
  end
end
return found
