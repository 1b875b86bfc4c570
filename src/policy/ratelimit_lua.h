/* The Lua script the redis backend runs for one bucket (docs/limits.md "Redis keys"). Atomic per
 * bucket; every key it touches carries the bucket's hash tag, so one call is one slot on a Redis
 * Cluster too.
 *
 * KEYS[1]  "<prefix>:rl:{<bucket>}"
 * ARGV[1]  the worker's member name ("<instance>:<worker>"), for concurrency
 * ARGV[2]  concurrency_ttl_secs
 * ARGV[3]  grace seconds added to every window key's TTL
 * ARGV[4]  number of operations, then 8 arguments each:
 *   r name window limit want settle_ws settle_spent "ret:refund"
 *        a request window: settle this worker's previous lease (in its own window), then lease
 *        `want` units (0: none) in the current window
 *   t name window limit add check - -   a token window: add, then read; check 1 refuses when
 *                                       the count is past the limit
 *   b kind - limit add check - -        the budget's spend in its period (kind: day, week or
 *                                       month, UTC); check 1 refuses once it reaches the limit
 *   c - - limit held inuse want inuse_if_granted
 *                                       concurrency: report what this worker holds and uses,
 *                                       then ask to hold `want` (no more than held: report
 *                                       only); granted, the slots asked for count in use
 *
 * Returns {refused, retry_after, then 4 values per operation}: refused is 0, or 1 + the index of
 * the operation that refused; a refusal applies no lease or concurrency grant of the call (its
 * settles, additions and reports still count). Per operation:
 *   r  granted, window start, ms left in it, c (counted: known admissions + outstanding leases)
 *   t  count, window start, ms left, 0          b  spend, period number, ms left, 0
 *   c  held after the call, in use by the other holders, held by the other holders, 0
 * The lease rule is ratelimit_lease.c's: a lease never takes c past the limit; past it, one
 * request more is granted while the admissions Redis knows of (c - u) are below the limit. */
#ifndef SLUICE_RATELIMIT_LUA_H
#define SLUICE_RATELIMIT_LUA_H

/* One string per line (ISO C caps a string literal at 4095 bytes); joined once per worker. */
static const char *const sl__rl_lua[] = {
    "local p = KEYS[1]\n",
    "local member = ARGV[1]\n",
    "local ttl = tonumber(ARGV[2])\n",
    "local grace = tonumber(ARGV[3])\n",
    "local nops = tonumber(ARGV[4])\n",
    "local t = redis.call('TIME')\n",
    "local now = tonumber(t[1])\n",
    "local now_ms = now * 1000 + math.floor(tonumber(t[2]) / 1000)\n",
    "local function num(v) return tonumber(v) or 0 end\n",
    "local function window(w) local ws = now - now % w; return ws, (ws + w) * 1000 - now_ms end\n",
    "local function civil(z)\n",
    "  z = z + 719468\n",
    "  local era = math.floor(z / 146097)\n",
    "  local doe = z - era * 146097\n",
    "  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - "
    "math.floor(doe / 146096)) / 365)\n",
    "  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))\n",
    "  local mp = math.floor((5 * doy + 2) / 153)\n",
    "  local m = mp < 10 and mp + 3 or mp - 9\n",
    "  local y = yoe + era * 400\n",
    "  if m <= 2 then y = y + 1 end\n",
    "  return y, m\n",
    "end\n",
    "local function days(y, m)\n",
    "  if m <= 2 then y = y - 1 end\n",
    "  local era = math.floor(y / 400)\n",
    "  local yoe = y - era * 400\n",
    "  local mm = m > 2 and m - 3 or m + 9\n",
    "  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + math.floor((153 * mm "
    "+ 2) / 5)\n",
    "  return era * 146097 + doe - 719468\n",
    "end\n",
    "local function period(kind)\n",
    "  local day = math.floor(now / 86400)\n",
    "  if kind == 'day' then return day, (day + 1) * 86400 end\n",
    "  if kind == 'week' then local wk = math.floor((day + 3) / 7); return wk, (wk * 7 + 4) * "
    "86400 end\n",
    "  local y, m = civil(day)\n",
    "  local nxt = m == 12 and days(y + 1, 1) or days(y, m + 1)\n",
    "  return (y - 1970) * 12 + m - 1, nxt * 86400\n",
    "end\n",
    "local function settle(name, sws, spent, ret, refund)\n",
    "  if sws == '0' then return end\n",
    "  local k = p .. ':' .. name .. ':' .. sws\n",
    "  if redis.call('EXISTS', k) == 0 then return end\n",
    "  local c, u = unpack(redis.call('HMGET', k, 'c', 'u'))\n",
    "  redis.call('HSET', k, 'c', math.max(num(c) - ret - refund, 0), 'u', math.max(num(u) - spent "
    "- ret, 0))\n",
    "end\n",
    "local res = {0, 0}\n",
    "local plan = {}\n",
    "local refused, retry = 0, 0\n",
    "for i = 0, nops - 1 do\n",
    "  local b = 5 + i * 8\n",
    "  local kind, name, w, limit = ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + "
    "3])\n",
    "  local a, s, x, y = ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]\n",
    "  local o = 3 + i * 4\n",
    "  if kind == 'r' then\n",
    "    local ret, refund = string.match(y, '(%d+):(%d+)')\n",
    "    settle(name, s, tonumber(x), tonumber(ret), tonumber(refund))\n",
    "    local ws, left = window(w)\n",
    "    local k = p .. ':' .. name .. ':' .. ws\n",
    "    local c, u = unpack(redis.call('HMGET', k, 'c', 'u'))\n",
    "    c = num(c); u = num(u)\n",
    "    local want, g, nc, nu = tonumber(a), 0, c, u\n",
    "    if want > 0 then\n",
    "      if c < limit then g = math.min(want, limit - c); nc = c + g; nu = u + g - 1\n",
    "      elseif c - math.min(u, c) < limit then g = 1; nc = c + 1\n",
    "      elseif refused == 0 then refused = i + 1; retry = math.max(math.ceil(left / 1000), 1) "
    "end\n",
    "    end\n",
    "    if g > 0 then plan[i + 1] = {k, nc, nu, w} end\n",
    "    res[o], res[o + 1], res[o + 2], res[o + 3] = g, ws, left, nc\n",
    "    if g > 0 then plan[i + 1][5] = c end\n",
    "  elseif kind == 't' or kind == 'b' then\n",
    "    local ws, left, life, k\n",
    "    if kind == 't' then\n",
    "      ws, left = window(w); life = w + grace; k = p .. ':' .. name .. ':' .. ws\n",
    "    else\n",
    "      local pend; ws, pend = period(name); left = pend * 1000 - now_ms\n",
    "      life = math.ceil(left / 1000) + 86400; k = p .. ':usd:' .. ws\n",
    "    end\n",
    "    local add, cur = tonumber(a), 0\n",
    "    if add > 0 then\n",
    "      cur = redis.call('INCRBY', k, add)\n",
    "      if cur == add then redis.call('EXPIRE', k, life) end\n",
    "    else\n",
    "      cur = num(redis.call('GET', k))\n",
    "    end\n",
    "    if s == '1' and refused == 0 and ((kind == 't' and cur > limit) or (kind == 'b' and cur "
    ">= limit)) then\n",
    "      refused = i + 1; retry = math.max(math.ceil(left / 1000), 1)\n",
    "    end\n",
    "    res[o], res[o + 1], res[o + 2], res[o + 3] = cur, ws, left, 0\n",
    "  elseif kind == 'c' then\n",
    "    local ck, uk, zk = p .. ':conc', p .. ':concu', p .. ':concz'\n",
    "    for _, m in ipairs(redis.call('ZRANGEBYSCORE', zk, '-inf', now - ttl)) do\n",
    "      redis.call('HDEL', ck, m); redis.call('HDEL', uk, m); redis.call('ZREM', zk, m)\n",
    "    end\n",
    "    local held, inuse, want, inuse_next = tonumber(a), tonumber(s), tonumber(x), "
    "tonumber(y)\n",
    "    local oh, ou = 0, 0\n",
    "    local hv = redis.call('HGETALL', ck)\n",
    "    for j = 1, #hv, 2 do if hv[j] ~= member then oh = oh + num(hv[j + 1]) end end\n",
    "    local uv = redis.call('HGETALL', uk)\n",
    "    for j = 1, #uv, 2 do if uv[j] ~= member then ou = ou + num(uv[j + 1]) end end\n",
    "    local g = held\n",
    "    if want > held then\n",
    "      if oh + want <= limit then g = want\n",
    "      elseif oh + inuse + 1 <= limit then g = limit - oh\n",
    "      elseif ou + inuse + 1 <= limit then g = inuse + 1\n",
    "      elseif refused == 0 then refused = i + 1 end\n",
    "    end\n",
    "    plan[i + 1] = {'c', g, inuse, ck, uk, zk, held, inuse_next}\n",
    "    res[o], res[o + 1], res[o + 2], res[o + 3] = g, ou, oh, 0\n",
    "  end\n",
    "end\n",
    "for i = 0, nops - 1 do\n",
    "  local q = plan[i + 1]\n",
    "  local o = 3 + i * 4\n",
    "  if q and q[1] == 'c' then\n",
    "    local g = refused == 0 and q[2] or q[7]\n",
    "    if g > 0 then\n",
    "      redis.call('HSET', q[4], member, g)\n",
    "      redis.call('HSET', q[5], member, math.min(refused == 0 and q[8] or q[3], g))\n",
    "      redis.call('ZADD', q[6], now, member)\n",
    "      redis.call('EXPIRE', q[4], ttl * 2); redis.call('EXPIRE', q[5], ttl * 2); "
    "redis.call('EXPIRE', q[6], ttl * 2)\n",
    "    else\n",
    "      redis.call('HDEL', q[4], member); redis.call('HDEL', q[5], member); redis.call('ZREM', "
    "q[6], member)\n",
    "    end\n",
    "    res[o] = g\n",
    "  elseif q and refused == 0 then\n",
    "    if redis.call('HSETNX', q[1], 'c', q[2]) == 1 then redis.call('EXPIRE', q[1], q[4] + "
    "grace) end\n",
    "    redis.call('HSET', q[1], 'c', q[2], 'u', q[3])\n",
    "  elseif q then\n",
    "    res[o] = 0\n",
    "    res[o + 3] = q[5]\n",
    "  end\n",
    "end\n",
    "res[1], res[2] = refused, retry\n",
    "return res\n",
    NULL,
};

#endif
