-- A cached fragment of an article, unless the article is withdrawn: the tombstone
-- check and the read in one round trip, for render's fast path when the fragment
-- cache and the log share one Redis (and database). KEYS = [fragment key, the
-- withdrawn set]; ARGV = [article id]. Returns the stored fragment, or nil when
-- it is not cached or its article is withdrawn (the app then answers 410 or
-- renders). Both keys carry the {render} hash tag: one slot on a cluster.
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return false
end
return redis.call('GET', KEYS[1])
