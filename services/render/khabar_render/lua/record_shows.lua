-- Records what each fragment shows, atomically and for a whole batch in one
-- round trip: KEYS = [epoch, shows:<name>... (one per fragment named), then the
-- cache keys of fragments to store]; ARGV = [expected epoch or "", shown-in key
-- prefix, number of fragments named, then per fragment: name, count, ids...,
-- then one value per cache key ("" drops the key)]. Returns 0 (and writes
-- nothing) when the epoch moved: the fragments were read from a mix of old and
-- new articles and must not be cached. Storing them in the same step (when the
-- cache is this Redis) leaves no moment between the check and the write for a
-- change to slip in. Every key shares the {render} hash tag, so on a cluster
-- they are all in the script's slot.
if ARGV[1] ~= '' and (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
local prefix, named, at = ARGV[2], tonumber(ARGV[3]), 4
for k = 2, named + 1 do
  local name, count = ARGV[at], tonumber(ARGV[at + 1])
  local first, last = at + 2, at + 1 + count
  local added = {}
  for i = first, last do added[ARGV[i]] = true end
  local changed = false
  for _, old in ipairs(redis.call('SMEMBERS', KEYS[k])) do
    if added[old] then added[old] = nil
    else redis.call('SREM', prefix .. old, name); changed = true end
  end
  for id in pairs(added) do redis.call('SADD', prefix .. id, name); changed = true end
  if changed then
    redis.call('DEL', KEYS[k])
    if count > 0 then redis.call('SADD', KEYS[k], unpack(ARGV, first, last)) end
  end
  at = last + 1
end
for k = named + 2, #KEYS do
  if ARGV[at] == '' then redis.call('DEL', KEYS[k]) else redis.call('SET', KEYS[k], ARGV[at]) end
  at = at + 1
end
return 1
