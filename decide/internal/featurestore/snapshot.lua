-- snapshot.lua: read AND update the feature store for a batch of chat
-- messages in one round trip. For every message, in order, it returns the
-- Snapshot as it was BEFORE that message (CSV of ints in
-- event.DecisionSnapshotNames order) and then applies the message.
--
-- A message whose snapshot is already cached (key s:<msg_id>, kept for the
-- snapshot TTL) is not applied again: its cached snapshot is returned. That
-- makes a retried batch, or a duplicated message, idempotent.
--
-- Times are the messages' own timestamps (Unix ms) passed in ARGV, never
-- Redis TIME, so the state depends only on the messages.
--
-- The script builds its key names from ARGV (prefix + channel + user), so it
-- runs on a standalone Redis (or one shard holding every key), not on a
-- Redis Cluster.
--
-- ARGV: prefix, user_ttl_s, window_ttl_s, snapshot_ttl_s, raid_window_ms,
--       raid_velocity_10s (0 = off), max_recent, n,
--       then n times: channel, user_id, login, msg_id, ts_ms, hash (hex, "0" = none)
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local winTTL = tonumber(ARGV[3])
local snapTTL = tonumber(ARGV[4])
local raidWin = tonumber(ARGV[5])
local raidVel = tonumber(ARGV[6])
local maxRecent = tonumber(ARGV[7])
local n = tonumber(ARGV[8])

local out = {}
local vel = {}  -- channel -> {sec, c10, c60}: per-batch cache of the velocity sums
local raid = {} -- channel -> raid start ms (-1 = none)
local velInc = {} -- '<channel>:<sec>' -> {ch, sec, n}: velocity increments of this batch, written at the end

for i = 0, n - 1 do
  local b = 9 + i * 6
  local ch, user, login, mid = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  local ts, h = tonumber(ARGV[b + 4]), ARGV[b + 5]
  local sk = P .. 's:' .. mid
  local cached = redis.call('GET', sk)
  if cached then
    out[i + 1] = cached
  else
    local uk = P .. 'u:' .. ch .. ':' .. user
    local f = redis.call('HMGET', uk, 'n', 'first', 'last', 'lh', 'sw', 'sd', 'st', 'hd', 'ht', 'hb', 'lsa', 'lsw', 'rt', 'lg', 'lgt')
    local cnt = tonumber(f[1]) or 0
    local first = tonumber(f[2]) or 0
    local last = tonumber(f[3]) or 0
    local same = 0
    if h ~= '0' and f[4] == h then same = 1 end

    -- The user's recent message times: a CSV in the hash, trimmed to 60 s
    -- before this message and to the newest maxRecent entries.
    local u10, u60 = 0, 0
    local recent = {}
    if f[13] then
      for x in string.gmatch(f[13], '%d+') do
        local t = tonumber(x)
        if t > ts - 60000 then
          recent[#recent + 1] = x
          if t <= ts then
            u60 = u60 + 1
            if t > ts - 10000 then u10 = u10 + 1 end
          end
        end
      end
    end
    recent[#recent + 1] = ARGV[b + 4]
    local from = math.max(1, #recent - maxRecent + 1)

    -- Channel velocity: one counter per second; sums over the last 10 and
    -- 60 seconds, read once per channel and second within the batch; the
    -- batch's own messages are added to the cache and written at the end.
    local sec = math.floor(ts / 1000)
    local v = vel[ch]
    if v == nil or v.sec ~= sec then
      local keys = {}
      for s = sec - 59, sec do keys[#keys + 1] = P .. 'v:' .. ch .. ':' .. s end
      local vals = redis.call('MGET', unpack(keys))
      local c10, c60 = 0, 0
      for j = 1, 60 do
        local x = tonumber(vals[j]) or 0
        c60 = c60 + x
        if j > 50 then c10 = c10 + x end
      end
      -- add this batch's not yet written messages of those seconds
      for k, c in pairs(velInc) do
        if c.ch == ch and c.sec > sec - 60 and c.sec <= sec then
          c60 = c60 + c.n
          if c.sec > sec - 10 then c10 = c10 + c.n end
        end
      end
      v = { sec = sec, c10 = c10, c60 = c60 }
      vel[ch] = v
    end

    local r = raid[ch]
    if r == nil then
      r = tonumber(redis.call('GET', P .. 'raid:' .. ch)) or -1
      raid[ch] = r
    end
    local raidActive = 0
    if r >= 0 and ts >= r - 10000 and ts < r + raidWin then raidActive = 1 end
    if raidVel > 0 and v.c10 >= raidVel then raidActive = 1 end

    -- Copypasta: per channel and text hash one key holding up to six
    -- "<10 s bucket>:<count>" pairs; the sum over the last six buckets
    -- (this one included) is the count over the last 50-60 s.
    local dup = 0
    if h ~= '0' then
      local db = math.floor(ts / 10000)
      local dk = P .. 'd:' .. ch .. ':' .. h
      local cur = redis.call('GET', dk)
      local pairs_, mine = {}, 0
      if cur then
        for bs, cs in string.gmatch(cur, '(%d+):(%d+)') do
          local bb, cc = tonumber(bs), tonumber(cs)
          if bb > db - 6 and bb <= db then
            dup = dup + cc
            if bb == db then mine = cc else pairs_[#pairs_ + 1] = bs .. ':' .. cs end
          elseif bb > db then
            pairs_[#pairs_ + 1] = bs .. ':' .. cs -- a later bucket (out-of-order message): keep
          end
        end
      end
      pairs_[#pairs_ + 1] = string.format('%d:%d', db, mine + 1)
      redis.call('SET', dk, table.concat(pairs_, ','), 'EX', winTTL)
    end

    local snap = string.format('%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d,%d',
      cnt, u10, u60, first, last, same,
      tonumber(f[5]) or 0, tonumber(f[6]) or 0, tonumber(f[7]) or 0,
      tonumber(f[8]) or 0, tonumber(f[9]) or 0, tonumber(f[10]) or 0,
      tonumber(f[11]) or 0, tonumber(f[12]) or 0,
      v.c10, v.c60, raidActive, dup)

    -- Apply the message.
    local vk = ch .. ':' .. sec
    local inc = velInc[vk]
    if inc == nil then
      inc = { ch = ch, sec = sec, n = 0 }
      velInc[vk] = inc
    end
    inc.n = inc.n + 1
    v.c10 = v.c10 + 1
    v.c60 = v.c60 + 1
    local nf = first
    if first == 0 or ts < first then nf = ts end
    local nl = last
    if ts > last then nl = ts end
    local lgt = tonumber(f[15]) or 0
    if login ~= '' and (f[14] ~= login or ts - lgt > userTTL * 500 or ts < lgt) then
      -- refresh login -> user id (at most every half user TTL)
      redis.call('SET', P .. 'ln:' .. ch .. ':' .. login, user, 'EX', userTTL)
      redis.call('HSET', uk, 'n', cnt + 1, 'first', string.format('%d', nf), 'last', string.format('%d', nl), 'lh', h,
        'rt', table.concat(recent, ',', from), 'lg', login, 'lgt', string.format('%d', ts))
    else
      redis.call('HSET', uk, 'n', cnt + 1, 'first', string.format('%d', nf), 'last', string.format('%d', nl), 'lh', h,
        'rt', table.concat(recent, ',', from))
    end
    redis.call('EXPIRE', uk, userTTL)
    redis.call('SET', sk, snap, 'EX', snapTTL)
    out[i + 1] = snap
  end
end
for _, c in pairs(velInc) do
  local vk = P .. 'v:' .. c.ch .. ':' .. c.sec
  if redis.call('INCRBY', vk, c.n) == c.n then redis.call('EXPIRE', vk, winTTL) end
end
return out
