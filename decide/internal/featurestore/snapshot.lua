-- snapshot.lua: read AND update the feature store for a batch of chat
-- messages in one round trip. For every message, in order, it computes the
-- Snapshot as it was BEFORE that message and then applies the message; it
-- returns the snapshots as ONE binary string (n times snapFmt, see user.lua).
--
-- A message whose snapshot is cached in its author's history (user.lua:
-- kept for snapshot_ttl_ms of message time, at most cacheMax per user and
-- channel) is not applied again: its cached snapshot is returned. That makes
-- a retried batch, or a duplicated message, idempotent.
--
-- Times are the messages' own timestamps (Unix ms), never Redis TIME, so
-- the state depends only on the messages.
--
-- Cost: a call into Redis from Lua costs more than the work of most
-- commands, so the script makes a fixed number of calls per batch besides
-- one SET per (channel, user): the caller passes every key and field name,
-- deduplicated; histories and raid marks are read with ONE MGET, channel
-- velocity rings, copypasta counters and login mappings live in a few hashes
-- per time bucket (one HMGET per bucket read, one HSET per bucket written);
-- values are binary (the struct library), never parsed as text.
--
-- The script builds bucket key names from ARGV, so it runs on a standalone
-- Redis (or one shard holding every key), not on a Redis Cluster.
--
-- ARGV: prefix, user_ttl_s, window_ttl_s, snapshot_ttl_ms, raid_window_ms,
--       raid_velocity_10s (0 = off), max_recent, n (messages),
--       nu (users), nd (copypasta fields), nc (channels), the smallest and
--       largest second of the messages' times, msgs (binary: n times msgFmt),
--       then the nu history keys and nc raid keys (read with one MGET), the
--       nd copypasta fields ("<channel>:<hash>"), the nc channel names and the
--       nu user ids.
-- A message (msgFmt): ts_ms, user slot, copypasta slot (0 = none), channel slot
-- (1-based), msg id hash (8 bytes), text hash (8 bytes, zero = none), login.
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local winTTL = tonumber(ARGV[3])
local snapTTL = tonumber(ARGV[4])
local raidWin = tonumber(ARGV[5])
local raidVel = tonumber(ARGV[6])
local maxRecent = tonumber(ARGV[7])
local cacheMax = math.min(maxRecent, 16)
local n = tonumber(ARGV[8])
local nu, nd, nc = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local minSec, maxSec = tonumber(ARGV[12]), tonumber(ARGV[13])
local blob = ARGV[14]
local msgFmt = '<i8i4i4i4c8c8Hc0'
local kU = 15                                -- history keys
local kR = kU + nu                           -- raid keys
local kD = kR + nc                           -- copypasta fields
local kCh = kD + nd                          -- channel names
local kUID = kCh + nc                        -- user ids

-- calls runs redis.call(cmd, key, ARGV[from..to]) (key may be nil) in slices
-- small enough for unpack and returns the replies concatenated.
local function calls(cmd, key, list, from, to)
  local res = {}
  for a = from, to, 4000 do
    local b = math.min(a + 3999, to)
    local part
    if key then part = redis.call(cmd, key, unpack(list, a, b)) else part = redis.call(cmd, unpack(list, a, b)) end
    if type(part) == 'table' then
      for j = 1, #part do res[#res + 1] = part[j] end
    end
  end
  return res
end

-- 1. Read: one MGET of histories and raid marks.
local vals = calls('MGET', nil, ARGV, kU, kR + nc - 1)

-- Channel velocity rings: hash v:<window bucket> (bucket = second / window
-- TTL), field = channel, value = the newest second S seen in the channel
-- and the message counts of the RS seconds up to it (second s in slot
-- 2 + s % RS; slot 1 is S). RS = 70 keeps the 60 s windows exact for
-- messages up to 10 s older than the channel's newest (messages reach
-- decide slightly out of order). A ring lives in the bucket of its S; one
-- older than the previous bucket is more than 60 s old, so empty.
local RS = 70
local ringFmt = '<i8' .. string.rep('i4', RS)
local ringLen = 8 + 4 * RS
local vb = math.floor(maxSec / winTTL)
local rings = {}
do
  local cur = calls('HMGET', P .. 'v:' .. vb, ARGV, kCh, kCh + nc - 1)
  local prev = calls('HMGET', P .. 'v:' .. (vb - 1), ARGV, kCh, kCh + nc - 1)
  for c = 1, nc do
    local v = cur[c] or prev[c]
    local r
    if v and #v == ringLen then
      r = { struct.unpack(ringFmt, v) }
      r[RS + 2] = nil -- the next position, not a slot
    else
      r = { -1 }
      for j = 2, RS + 1 do r[j] = 0 end
    end
    rings[c] = r
  end
end

-- velocity returns the channel's message counts in the 10 and 60 seconds up
-- to second sec (cached until the ring shifts or another second is asked).
local function velocity(r, sec)
  if r.sec ~= sec then
    local c10, c60 = 0, 0
    local S = r[1]
    for s = math.max(sec - 59, S - RS + 1), math.min(sec, S) do
      local x = r[2 + s % RS]
      c60 = c60 + x
      if s > sec - 10 then c10 = c10 + x end
    end
    r.sec, r.c10, r.c60 = sec, c10, c60
  end
  return r.c10, r.c60
end

-- count adds a message at second sec to the ring. The ring holds the RS
-- seconds up to the newest one: a message older than that is not counted.
local function count(r, sec)
  local S = r[1]
  if sec > S then
    if S < 0 or sec - S >= RS then
      for j = 2, RS + 1 do r[j] = 0 end
    else
      for s = S + 1, sec do r[2 + s % RS] = 0 end
    end
    r[1], S = sec, sec
    r.sec = nil -- seconds left the ring: recompute the sums
  end
  if sec > S - RS then
    local j = 2 + sec % RS
    r[j] = r[j] + 1
    if r.sec ~= nil and sec <= r.sec and sec > r.sec - 60 then -- the cached sums include second sec
      r.c60 = r.c60 + 1
      if sec > r.sec - 10 then r.c10 = r.c10 + 1 end
    end
  end
  r.dirty = true
end

-- Copypasta: hash d:<10 s bucket>, field "<channel>:<hash>", value = the
-- field's messages in that bucket. A message's count is the sum over its
-- bucket and the five before (the last 50-60 s).
local dcount = {} -- bucket -> {field slot -> count}
if nd > 0 then
  local lo, hi = math.floor(minSec / 10) - 5, math.floor(maxSec / 10)
  for b = lo, hi do
    local got = calls('HMGET', P .. 'd:' .. b, ARGV, kD, kD + nd - 1)
    local t = {}
    for j = 1, nd do t[j] = tonumber(got[j]) or 0 end
    dcount[b] = t
  end
end
local ddirty = {} -- bucket -> {field slot -> true}

-- cacheFind returns the snapshot cached under msg id hash mh in cache.
local function cacheFind(cache, mh)
  local from = 1
  while true do
    local p = string.find(cache, mh, from, true)
    if not p then return nil end
    if (p - 1) % cacheEntry == 0 then return string.sub(cache, p + 16, p + 15 + snapLen) end
    from = p + 1
  end
end

-- Login -> user id mappings (for moderator events naming only a login):
-- hash ln:<half user TTL bucket>, field "<channel>:<login>"; refreshed
-- once per bucket per user, looked up by mod.lua in three buckets.
local lnW = userTTL * 500
local lnSet = {} -- bucket -> {field, user id, ...}

-- 2. Compute every message's snapshot and apply the message.
local users, raids = {}, {}
local out = {}
local off = 1
for i = 1, n do
  local ts, ui, di, ci, mh, h, login
  ts, ui, di, ci, mh, h, login, off = struct.unpack(msgFmt, blob, off)
  local u = users[ui]
  if u == nil then
    u = userDecode(vals[ui] or nil)
    users[ui] = u
  end
  local snap = u.nc > 0 and cacheFind(u.cache, mh)
  if snap then
    out[i] = snap
  else
    local same = 0
    if h ~= noHash and u.lh == h then same = 1 end

    -- The user's recent message times: trimmed to 60 s before this message
    -- and to the newest maxRecent entries.
    local u10, u60 = 0, 0
    local recent = {}
    if u.nrt > 0 then
      local t = { struct.unpack(int64s(u.nrt), u.rt) }
      for j = 1, u.nrt do
        local x = t[j]
        if x > ts - 60000 then
          recent[#recent + 1] = x
          if x <= ts then
            u60 = u60 + 1
            if x > ts - 10000 then u10 = u10 + 1 end
          end
        end
      end
    end
    recent[#recent + 1] = ts

    -- Channel velocity: the batch's earlier messages are in the ring.
    local sec = math.floor(ts / 1000)
    local r = rings[ci]
    local c10, c60 = velocity(r, sec)

    local rs = raids[ci]
    if rs == nil then
      rs = tonumber(vals[nu + ci]) or -1
      raids[ci] = rs
    end
    local raidActive = 0
    if rs >= 0 and ts >= rs - 10000 and ts < rs + raidWin then raidActive = 1 end
    if raidVel > 0 and c10 >= raidVel then raidActive = 1 end

    local dup = 0
    if di > 0 then
      local db = math.floor(sec / 10)
      for b = db - 5, db do dup = dup + dcount[b][di] end
      dcount[db][di] = dcount[db][di] + 1
      local dd = ddirty[db]
      if dd == nil then
        dd = {}
        ddirty[db] = dd
      end
      dd[di] = true
    end

    snap = struct.pack(snapFmt, u.n, u10, u60, u.first, u.last, same, u.sw, u.sd, u.st, u.hd, u.ht, u.hb,
      u.lsa, u.lsw, c10, c60, raidActive, dup)

    -- Apply the message.
    count(r, sec)
    u.n = u.n + 1
    if u.first == 0 or ts < u.first then u.first = ts end
    if ts > u.last then u.last = ts end
    u.lh = h
    local from = math.max(1, #recent - maxRecent + 1)
    u.nrt = #recent - from + 1
    u.rt = struct.pack(int64s(u.nrt), unpack(recent, from))
    local lb = math.floor(ts / lnW)
    if login ~= '' and (u.lg ~= login or math.floor(u.lgt / lnW) ~= lb) then
      local l = lnSet[lb]
      if l == nil then
        l = {}
        lnSet[lb] = l
      end
      l[#l + 1] = ARGV[kCh + ci - 1] .. ':' .. login
      l[#l + 1] = ARGV[kUID + ui - 1]
      u.lg, u.lgt = login, ts
    end
    -- Cache the snapshot: newest first, entries older than the snapshot TTL
    -- (by message time) or beyond cacheMax dropped.
    local keep = math.min(u.nc, cacheMax - 1)
    while keep > 0 do
      local _, ets = struct.unpack('<c8i8', u.cache, (keep - 1) * cacheEntry + 1)
      if ets > ts - snapTTL then break end
      keep = keep - 1
    end
    u.cache = mh .. struct.pack('<i8', ts) .. snap .. string.sub(u.cache, 1, keep * cacheEntry)
    u.nc = keep + 1
    u.dirty = true
    out[i] = snap
  end
end

-- 3. Write back: one SET per changed history, one HSET per bucket.
for ui, u in pairs(users) do
  if u.dirty then redis.call('SET', ARGV[kU + ui - 1], userEncode(u), 'EX', userTTL) end
end
local vset = {} -- bucket -> {channel, ring, ...}
for c, r in pairs(rings) do
  if r.dirty then
    local b = math.floor(r[1] / winTTL)
    local l = vset[b]
    if l == nil then
      l = {}
      vset[b] = l
    end
    l[#l + 1] = ARGV[kCh + c - 1]
    l[#l + 1] = struct.pack(ringFmt, unpack(r, 1, RS + 1))
  end
end
for b, l in pairs(vset) do
  calls('HSET', P .. 'v:' .. b, l, 1, #l)
  redis.call('EXPIRE', P .. 'v:' .. b, 2 * winTTL)
end
local dmax = nil
for b, dd in pairs(ddirty) do
  local l = {}
  for j in pairs(dd) do
    l[#l + 1] = ARGV[kD + j - 1]
    l[#l + 1] = dcount[b][j]
  end
  calls('HSET', P .. 'd:' .. b, l, 1, #l)
  redis.call('EXPIRE', P .. 'd:' .. b, winTTL + 60)
  if dmax == nil or b > dmax then dmax = b end
end
if dmax then
  -- Buckets that left every window (also of messages up to 10 s late) are
  -- freed in the background (UNLINK) before they expire, so a large hash
  -- never stalls Redis.
  redis.call('UNLINK', P .. 'd:' .. (dmax - 7), P .. 'd:' .. (dmax - 8))
end
local lmax = nil
for b, l in pairs(lnSet) do
  calls('HSET', P .. 'ln:' .. b, l, 1, #l)
  redis.call('EXPIRE', P .. 'ln:' .. b, 2 * userTTL)
  if lmax == nil or b > lmax then lmax = b end
end
if lmax then redis.call('UNLINK', P .. 'ln:' .. (lmax - 3)) end
return table.concat(out)
