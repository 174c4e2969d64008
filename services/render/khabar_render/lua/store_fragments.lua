-- Stores a batch of rendered fragments only if no article changed since they were
-- read: the check and the writes in one step, so no reader (the edge) can fetch a
-- fragment rendered from articles a writer has since changed and purged.
-- KEYS = [fence, fragment keys...]: the fence is the log's epoch when the cache
-- shares the log's Redis, else the cache's own fence, which every writer raises to
-- its epoch in the step that purges (fence_fragments.lua). ARGV = [epoch the
-- fragments were read at, then per fragment its stored JSON, or "" to drop it].
-- Returns 1, or 0 (and writes nothing) when the fence is past that epoch. Every key
-- carries the {render} hash tag: one slot.
if tonumber(redis.call('GET', KEYS[1]) or '0') > tonumber(ARGV[1]) then return 0 end
for k = 2, #KEYS do
  if ARGV[k] == '' then redis.call('DEL', KEYS[k])
  else redis.call('SET', KEYS[k], ARGV[k]) end
end
return 1
