-- Who links to an article: the members of its linkers set (see `save_copies.lua`),
-- each with its publication time (from the recent set; false when its copy is gone)
-- and its related links as kept (false when gone).
-- KEYS: the linkers set, the recent set. ARGV: links-key prefix.
-- Returns per member: id, published, links.
local ids = redis.call('SMEMBERS', KEYS[1])
if #ids == 0 then return {} end
local keys = {}
for i, id in ipairs(ids) do keys[i] = ARGV[1] .. id end
local links = redis.call('MGET', unpack(keys))
local found = {}
for i, id in ipairs(ids) do
  table.insert(found, id)
  table.insert(found, redis.call('ZSCORE', KEYS[2], id) or false)
  table.insert(found, links[i])
end
return found
