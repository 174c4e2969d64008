-- One reader's token bucket, shared by every search replica.
-- KEYS: 1 the reader's bucket (a hash: tokens, updated)
-- ARGV: 1 tokens added per second, 2 burst (the bucket's size)
-- Returns the seconds until a token is back, as a string ('0': this request may go).
-- Redis's own clock, so replicas whose clocks differ still fill one bucket alike.
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(bucket[1]) or burst
local updated = tonumber(bucket[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', string.format('%.6f', now))
-- A bucket left alone this long is full again: forgetting it changes nothing.
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 1000)
return string.format('%.6f', wait)
