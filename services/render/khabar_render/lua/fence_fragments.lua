-- A writer's purge on a fragment cache of its own Redis: raises the cache's fence to
-- the writer's epoch (never lowers it) and drops the fragments, in one step, so a
-- render that read before the writer's change stores nothing after this
-- (store_fragments.lua). KEYS = [fence, fragment keys...]; ARGV = [epoch]. Every key
-- carries the {render} hash tag: one slot.
if tonumber(ARGV[1]) > tonumber(redis.call('GET', KEYS[1]) or '0') then
  redis.call('SET', KEYS[1], ARGV[1])
end
for k = 2, #KEYS do redis.call('DEL', KEYS[k]) end
return 1
