-- The document frequencies of a batch's new articles, counted once per term at the
-- end of the batch: a new article brings a hundred or more terms, and the batch's
-- articles share many. KEYS: df. ARGV: "term count" pairs, one a line.
for term, n in string.gmatch(ARGV[1], '(%S+) (%d+)') do redis.call('HINCRBY', KEYS[1], term, n) end
return 1
