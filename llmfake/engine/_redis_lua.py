"""The Lua scripts of the redis state backend: each runs atomically inside Redis.

Keys of tenant ``T`` under namespace ``N`` (``llmfake:<fingerprint of the base scenario>``):
``N:T:{T}:sc`` (hash: ``v`` scenario version, ``raw`` the scenario as JSON, ``since`` when it
was put in force, Redis time), ``N:T:{T}:st`` (hash: ``ord`` the next ordinal, ``m:I`` requests
rule I matched, ``p:I`` its script cursor, ``L:...`` limit buckets), ``N:T:{T}:j`` (stream: the
journal). Limits counted ``by: global`` live in ``N:G`` (hash), shared by every tenant.

Bucket fields (suffixes of a limit prefix ``L:<fingerprint>:<key>:``): ``rl``/``ru`` request
level and when it was last refilled, ``tl``/``tu`` the same for tokens, ``in`` requests in
flight, ``qr``/``qt`` quota used. Levels are refilled continuously as in ``_limits.Bucket``.
Floats leave Lua as strings (``%.17g``): Redis would truncate a number to an integer.
"""

# Shared by RESERVE and CHARGE: bring a bucket up to ``now``; returns its level.
_BUCKET = """
local function bucket(h, f, cap, window, now)
  local lvl = tonumber(redis.call('HGET', h, f .. 'l') or '')
  local upd = tonumber(redis.call('HGET', h, f .. 'u') or '')
  if lvl == nil then return cap end
  lvl = math.min(cap, lvl + (now - upd) * cap / window)
  return lvl
end
local function num(x) return string.format('%.17g', x) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

RESERVE = _BUCKET + """
-- KEYS: 1 scenario hash, 2 tenant state hash, 3 limit hash (tenant state or global)
-- ARGV: 1 known version, 2 auth ok, 3 limited, 4 limit prefix, 5 rpm, 6 tpm, 7 max concurrent,
--       8 quota requests, 9 quota tokens, 10 window, 11 tokens, 12 chaos prefix, 13 rule,
--       14 rule has a script, 15 scenario chaos count, then their probabilities, then the
--       rule's chaos count and their probabilities
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if v ~= ARGV[1] then
  return {'stale', v, redis.call('HGET', KEYS[1], 'raw') or '',
          redis.call('HGET', KEYS[1], 'since') or ''}
end
local ord = redis.call('HINCRBY', KEYS[2], 'ord', 1) - 1
if ARGV[2] ~= '1' then return {'auth', ord} end
local rl, tl = '', ''
if ARGV[3] == '1' then
  local h, p = KEYS[3], ARGV[4]
  local rpm, tpm = tonumber(ARGV[5]), tonumber(ARGV[6])
  local conc, qreq, qtok = tonumber(ARGV[7]), tonumber(ARGV[8]), tonumber(ARGV[9])
  local window, tokens = tonumber(ARGV[10]), tonumber(ARGV[11])
  local r = rpm > 0 and bucket(h, p .. 'r', rpm, window, now) or nil
  local k = tpm > 0 and bucket(h, p .. 't', tpm, window, now) or nil
  local inflight = tonumber(redis.call('HGET', h, p .. 'in') or '0')
  local usedr = tonumber(redis.call('HGET', h, p .. 'qr') or '0')
  local usedt = tonumber(redis.call('HGET', h, p .. 'qt') or '0')
  local why = ''
  if qreq >= 0 and usedr >= qreq then why = 'quota_requests'
  elseif qtok >= 0 and usedt >= qtok then why = 'quota_tokens'
  elseif r ~= nil and r < 1 then why = 'requests'
  elseif k ~= nil and k < tokens then why = 'tokens'
  elseif conc >= 0 and inflight >= conc then why = 'concurrency'
  end
  if why == '' then
    if r ~= nil then r = r - 1 end
    if k ~= nil then k = k - tokens end
    redis.call('HINCRBY', h, p .. 'in', 1)
    redis.call('HINCRBY', h, p .. 'qr', 1)
    redis.call('HINCRBY', h, p .. 'qt', tokens)
  end
  if r ~= nil then
    redis.call('HSET', h, p .. 'rl', num(r), p .. 'ru', num(now))
    rl = num(r)
  end
  if k ~= nil then
    redis.call('HSET', h, p .. 'tl', num(k), p .. 'tu', num(now))
    tl = num(k)
  end
  if why ~= '' then return {'limit', ord, why, rl, tl} end
end
local prefix = ARGV[12]
local n = tonumber(ARGV[15])
for c = 0, n - 1 do
  local d = tonumber(string.sub(redis.sha1hex(prefix .. '*:' .. c .. ':' .. ord), 1, 13), 16)
  if d / 4503599627370496 < tonumber(ARGV[16 + c]) then
    return {'chaos', ord, '', rl, tl, c}
  end
end
local rule = ARGV[13]
if rule == '-1' then return {'ok', ord, '', rl, tl} end
local matched = redis.call('HINCRBY', KEYS[2], 'm:' .. rule, 1) - 1
local at = 16 + n
local m = tonumber(ARGV[at])
for c = 0, m - 1 do
  local key = prefix .. rule .. ':' .. c .. ':' .. matched
  local d = tonumber(string.sub(redis.sha1hex(key), 1, 13), 16)
  if d / 4503599627370496 < tonumber(ARGV[at + 1 + c]) then
    return {'rule_chaos', ord, '', rl, tl, c}
  end
end
if ARGV[14] ~= '1' then return {'ok', ord, '', rl, tl} end
local pos = redis.call('HINCRBY', KEYS[2], 'p:' .. rule, 1) - 1
return {'script', ord, '', rl, tl, pos}
"""

FINISH = _BUCKET + """
-- KEYS: 1 limit hash.  ARGV: 1 limit prefix, 2 release (1/0), 3 tokens to charge,
--       4 tokens per minute, 5 window
local h, p = KEYS[1], ARGV[1]
if ARGV[2] == '1' then
  local inflight = tonumber(redis.call('HGET', h, p .. 'in') or '0')
  if inflight > 0 then redis.call('HINCRBY', h, p .. 'in', -1) end
end
local tokens = tonumber(ARGV[3])
if tokens > 0 then
  local tpm = tonumber(ARGV[4])
  if tpm > 0 then
    local k = bucket(h, p .. 't', tpm, tonumber(ARGV[5]), now) - tokens
    redis.call('HSET', h, p .. 'tl', num(k), p .. 'tu', num(now))
  end
  redis.call('HINCRBY', h, p .. 'qt', tokens)
end
return 1
"""

PUT = """
-- KEYS: 1 scenario hash, 2 tenant state hash, 3 journal stream.  ARGV: 1 the scenario as
-- JSON, or '' to keep the one in force (a reset)
local t = redis.call('TIME')
local v = redis.call('HINCRBY', KEYS[1], 'v', 1)
if ARGV[1] ~= '' then redis.call('HSET', KEYS[1], 'raw', ARGV[1]) end
redis.call('HSET', KEYS[1], 'since', t[1] .. '.' .. string.format('%06d', tonumber(t[2])))
redis.call('DEL', KEYS[2], KEYS[3])
return v
"""
