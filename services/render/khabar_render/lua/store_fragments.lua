-- Stores a batch of rendered fragments only if no article changed since they were
-- read: the epoch check and the writes in one step, so no reader (the edge) can
-- fetch a fragment rendered from articles a writer has since changed and purged.
-- Used when the fragment cache and the log share one Redis (and database).
-- KEYS = [epoch, fragment keys...]; ARGV = [expected epoch, then per fragment its
-- stored JSON, or "" to drop it (nothing to show)]. Returns 1, or 0 (and writes
-- nothing) when the epoch moved. Every key carries the {render} hash tag: one slot.
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
for k = 2, #KEYS do
  if ARGV[k] == '' then redis.call('DEL', KEYS[k])
  else redis.call('SET', KEYS[k], ARGV[k]) end
end
return 1
