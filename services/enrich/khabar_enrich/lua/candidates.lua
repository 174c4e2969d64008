-- Candidates in one round trip: the postings of each query term published nearest
-- to the article (before it, or after it up to `newest`: the same candidates whatever
-- order the articles arrived in), scored by the query weights they share times recency, the best `rerank` returned as their
-- stored docs, each followed by the value at `side_prefix .. id` for those published
-- since `side_since` (the refresh reads their related links), else false.
-- Returned per candidate: id, revision, doc (only when the client may not know the
-- revision: none, or one of its own it may have forgotten), side value.
-- KEYS: the revisions. ARGV: newest published, postings
-- per term, rerank, the article's published, half-life (days), recency floor, own
-- id, doc-key prefix, side prefix, side since, term-key prefix (with the language),
-- the query terms in one argument, "term weight" one a line, then the client's
-- revision prefix and the lowest count of its own revisions it still remembers, then
-- the reach: the newest published a refresh may reach and how many it may read back.
--
-- The reach, for the refresh only (see `fanout.py`): an article B whose candidates
-- read would find this one A (both indexed under the query terms they read by, see
-- `index.py`) is one whose own read of a term A shares has fewer than
-- `per_term` postings between them; so the first `per_term` postings either side of A
-- hold every such B (B newer than A up to the reach: B reads older ones without end;
-- B older, from `side since`: B reads only the window after it). Those of them that
-- are not among A's candidates are ranked as candidates are and the best `reach`
-- returned after them (with the candidates below the cut), the same four values
-- each, then the cut (the score of the last candidate read back, '0' when none was
-- left out: the article keeps it, see `fanout.finds`), and last their count.
local newest, per_term, rerank = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local anchor, half_life, floor = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local own, doc_prefix = ARGV[7], ARGV[8]
local side_prefix, side_since = ARGV[9], tonumber(ARGV[10])
local client, client_since = ARGV[13], tonumber(ARGV[14])
local reach_until, reach = tonumber(ARGV[15]), tonumber(ARGV[16])
local last = reach > 0 and math.max(tonumber(newest), reach_until) or tonumber(newest)
-- A candidate's score and publication time are set where first seen, its time made a
-- number only once; the ids and values go in plain arrays (a table per candidate costs).
local score, published, beyond = {}, {}, {}
for term, weight in string.gmatch(ARGV[12], '(%S+) (%S+)') do
  weight = tonumber(weight)
  local key = ARGV[11] .. term
  local before = redis.call('ZRANGE', key, ARGV[4], '-inf', 'BYSCORE', 'REV',
                            'LIMIT', 0, per_term, 'WITHSCORES')
  local after = redis.call('ZRANGE', key, '(' .. ARGV[4], last, 'BYSCORE',
                           'LIMIT', 0, per_term, 'WITHSCORES')
  -- Of `after`, the candidates are those up to `newest`; the rest only the reach reads.
  local within = #after
  while within > 0 and tonumber(after[within]) > tonumber(newest) do within = within - 2 end
  -- Both lists run away from the article in time: the nearest of either go first.
  local b, a = 1, 1
  for _ = 1, per_term do
    local hits, j
    if b <= #before and (a > within
        or anchor - tonumber(before[b + 1]) <= tonumber(after[a + 1]) - anchor) then
      hits, j, b = before, b, b + 2
    elseif a <= within then
      hits, j, a = after, a, a + 2
    else
      break
    end
    local id = hits[j]
    local sum = score[id]
    if sum then
      score[id] = sum + weight
    else
      score[id] = weight
      published[id] = hits[j + 1]
    end
  end
  if reach > 0 then  -- the postings of either side the candidates left
    for _, rest in ipairs({{before, b}, {after, a}}) do
      local hits = rest[1]
      for j = rest[2], #hits, 2 do
        local id = hits[j]
        beyond[id] = (beyond[id] or 0) + weight
        published[id] = published[id] or hits[j + 1]
      end
    end
  end
end
score[own] = nil
beyond[own] = nil
local candidates, values, n = {}, {}, 0
for id, s in pairs(score) do
  local when = tonumber(published[id])
  published[id] = when
  local days = math.abs(anchor - when) / 86400
  n = n + 1
  candidates[n] = id
  values[n] = s * (floor + (1 - floor) * 0.5 ^ (days / half_life))
end
-- Only the best `rerank` are read back. Sorting hundreds of candidates with a Lua
-- comparator was most of the script's time: a plain sort of the scores finds the
-- cut, and only those at or above it (ties included) are ranked by score and id.
local cut = -math.huge
if n > rerank then
  local sorted = {}
  for i = 1, n do sorted[i] = values[i] end
  table.sort(sorted)
  cut = sorted[n - rerank + 1]
end
local ranked = {}
for i = 1, n do
  if values[i] >= cut then ranked[#ranked + 1] = {candidates[i], values[i]} end
end
table.sort(ranked, function(a, b)
  if a[2] == b[2] then return a[1] < b[1] end
  return a[2] > b[2]
end)
-- Their revisions and links; a doc itself only when it has no revision or one the
-- client may have forgotten (the client keeps the docs it has seen by revision:
-- passing the docs through the script and back was half of its time). A call from a
-- script costs more than the read: MGETs.
local ids, side_keys, side_of = {}, {}, {}
for i = 1, math.min(rerank, #ranked) do
  local id = ranked[i][1]
  ids[i] = id
end
local own_count = #ids
if reach > 0 then
  -- Candidates below the cut are the reach's too.
  for id in pairs(score) do
    if not beyond[id] then beyond[id] = 0 end
  end
  for i = 1, own_count do beyond[ids[i]] = nil end
  -- The reach: what the candidates left, within the window, ranked as they are (those
  -- below the cut count their candidates' weight too).
  local pool, worth = {}, {}
  for id, s in pairs(beyond) do
    local when = tonumber(published[id])
    if when >= side_since and when <= reach_until then
      local days = math.abs(anchor - when) / 86400
      local value = ((score[id] or 0) + s) * (floor + (1 - floor) * 0.5 ^ (days / half_life))
      pool[#pool + 1] = {id, value, when}
      worth[#worth + 1] = value
    end
  end
  -- As for the candidates: a plain sort finds the cut, only those above it are ranked.
  if #pool > reach then
    table.sort(worth)
    local least, kept = worth[#worth - reach + 1], {}
    for i = 1, #pool do
      if pool[i][2] >= least then kept[#kept + 1] = pool[i] end
    end
    pool = kept
  end
  table.sort(pool, function(x, y)
    if x[2] == y[2] then return x[1] < y[1] end
    return x[2] > y[2]
  end)
  for i = 1, math.min(reach, #pool) do
    ids[#ids + 1] = pool[i][1]
    published[pool[i][1]] = pool[i][3]
  end
end
for i = 1, #ids do
  if tonumber(published[ids[i]]) >= side_since then
    table.insert(side_keys, side_prefix .. ids[i])
    side_of[i] = #side_keys
  end
end
local kept_cut = n > rerank and string.format('%.17g', cut) or '0'
if #ids == 0 then return {kept_cut, 0} end
local revs = redis.call('HMGET', KEYS[1], unpack(ids))
local bare_keys, bare_of = {}, {}
for i = 1, #ids do
  local rev = revs[i]
  local forgotten = rev and string.sub(rev, 1, #client) == client
    and tonumber(string.sub(rev, #client + 1)) < client_since
  if not rev or forgotten then
    table.insert(bare_keys, doc_prefix .. ids[i])
    bare_of[i] = #bare_keys
  end
end
local docs = #bare_keys > 0 and redis.call('MGET', unpack(bare_keys)) or {}
local sides = #side_keys > 0 and redis.call('MGET', unpack(side_keys)) or {}
local found, reached = {}, 0
for i = 1, #ids do
  local doc = bare_of[i] and docs[bare_of[i]] or false
  if (revs[i] or doc) and i > own_count then reached = reached + 1 end
  if revs[i] or doc then
    table.insert(found, ids[i])
    table.insert(found, revs[i] or false)
    table.insert(found, doc)
    table.insert(found, side_of[i] and sides[side_of[i]] or false)
  end
end
table.insert(found, kept_cut)
table.insert(found, reached)
return found
