-- snapshot.lua: read AND update the feature store for a batch of chat
-- messages in one round trip. For every message, in order, it computes the
-- Snapshot as it was BEFORE that message and then applies the message; it
-- returns the snapshots as ONE binary string (n times snapFmt, see user.lua).
--
-- Each message's snapshot is cached under its msg id hash in hash
-- sc:<cache bucket> (bucket = message time / (snapshot_ttl_ms / 4)). A
-- message found there is not applied again: its cached snapshot is returned.
-- That makes a retried batch, or a duplicated message, idempotent. The
-- cached value is the snapshot followed by the author's history field
-- ("<channel>:<user_id>"), which mod.lua uses to find the author of a
-- deleted message (CLEARMSG names only a login). A bucket
-- is unlinked once a bucket 5 later is written, so a snapshot stays at least
-- snapshot_ttl_ms (of message time).
--
-- Times are the messages' own timestamps (Unix ms), never Redis TIME, so
-- the state depends only on the messages.
--
-- Cost: a call into Redis from Lua costs more than the work of most
-- commands, and every byte of a value read or written is copied, so the
-- script makes a fixed number of calls per batch, keeps histories small, and
-- keeps histories and per-channel and per-text state in a few hashes per
-- time bucket (one HMGET per bucket read, one HSET per bucket written): the
-- caller passes every key and field name, deduplicated; raid marks are read
-- with ONE MGET; values are
-- binary (the struct library), never parsed as text; a channel's velocity
-- ring carries its window sums, so a message in the ring's newest second
-- reads two numbers instead of summing 60.
--
-- The script builds bucket key names from ARGV, so it runs on a standalone
-- Redis (or one shard holding every key), not on a Redis Cluster.
--
-- ARGV: prefix, user_ttl_s, window_ttl_s, snapshot_ttl_ms, raid_window_ms,
--       raid_velocity_10s (0 = off), max_recent, n (messages),
--       nu (users), nd (copypasta fields), nc (channels), the smallest and
--       largest second of the messages' times, msgs (binary: n times msgFmt),
--       then the nu history fields ("<channel>:<user_id>"), the nc raid keys, the
--       nd copypasta fields ("<channel>:<hash>"), the nc channel names, then
--       mark_ttl_s, ns and ns system actions (5 values each, see
--       sysapply.lua), applied before the messages.
-- A message (msgFmt): ts_ms, user slot, copypasta slot (0 = none), channel slot
-- (1-based), msg id hash (8 bytes), text hash (8 bytes, zero = none), login.
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local winTTL = tonumber(ARGV[3])
local snapTTL = tonumber(ARGV[4])
local raidWin = tonumber(ARGV[5])
local raidVel = tonumber(ARGV[6])
local maxRecent = tonumber(ARGV[7])
local n = tonumber(ARGV[8])
local nu, nd, nc = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
local minSec, maxSec = tonumber(ARGV[12]), tonumber(ARGV[13])
local blob = ARGV[14]
local msgFmt = '<i8i4i4i4c8c8Hc0'
local kU = 15                                -- history fields
local kR = kU + nu                           -- raid keys
local kD = kR + nc                           -- copypasta fields
local kCh = kD + nd                          -- channel names
local kSys = kCh + nc                        -- mark TTL, ns, system actions

-- 0. The system actions handed over (executed since the last batch).
do
  local ns = tonumber(ARGV[kSys + 1])
  if ns > 0 then applySys(P, userTTL, tonumber(ARGV[kSys]), ARGV, kSys + 2, ns) end
end

-- The messages, unpacked once.
local mTs, mU, mD, mC, mMh, mH, mLogin = {}, {}, {}, {}, {}, {}, {}
do
  local off = 1
  for i = 1, n do
    mTs[i], mU[i], mD[i], mC[i], mMh[i], mH[i], mLogin[i], off = sunpack(msgFmt, blob, off)
  end
end

-- Snapshot cache: hash sc:<cache bucket>, field = msg id hash, value = the
-- snapshot and the history field. One HMGET per cache bucket of the batch
-- (usually one).
local cacheW = cacheWidth(snapTTL)
local cached = {} -- msg id hash -> snapshot (cached, or computed earlier in the batch)
local cacheSet = {} -- cache bucket -> {field, snapshot, ...}
do
  local byBucket = {}
  for i = 1, n do
    local cb = floor(mTs[i] / cacheW)
    local l = byBucket[cb]
    if l == nil then
      l = { f = {} }
      byBucket[cb] = l
    end
    l.f[#l.f + 1] = mMh[i]
  end
  for cb, l in pairs(byBucket) do
    local got = calls('HMGET', P .. 'sc:' .. cb, l.f, 1, #l.f)
    for j = 1, #l.f do
      if got[j] then cached[l.f[j]] = ssub(got[j], 1, snapLen) end
    end
  end
end

-- 1. Read: the histories (user.lua) and, with one MGET, the raid marks.
local ufields = {}
for j = 1, nu do ufields[j] = ARGV[kU + j - 1] end
local vals, ufound = userLoad(P, userTTL, ufields, nu, maxSec)
local raidVals = calls('MGET', nil, ARGV, kR, kR + nc - 1)
local ub = floor(maxSec / userTTL)

-- Per-window state lives in hashes per bucket of window_ttl_s seconds,
-- each value in the bucket of its newest second, read with bucketLoad
-- (user.lua) for batches up to lateMax seconds late. A value older than
-- the previous bucket is more than window_ttl_s (>= 61 s) old, so empty.
local lateMax = 30
local function windowLoad(name, from, count)
  local names = {}
  for j = 1, count do names[j] = ARGV[from + j - 1] end
  return (bucketLoad(P .. name, winTTL, lateMax, names, count, maxSec))
end

-- Channel velocity rings, kept in two parts so that a batch whose messages
-- fall in the second a channel is already at (nearly every batch) reads and
-- writes 20 bytes per channel rather than 300: Redis's Lua hashes every byte
-- of every string it creates, and a batch touches most channels.
--   hash vh:<bucket>, field = channel, value = vHdr: the newest second S
--     seen in the channel, its message counts in the 10 and 60 seconds up to
--     S, and in S itself (cS);
--   hash vs:<bucket>, field = channel, value = the counts of the RS seconds
--     up to S (second s in slot s % RS); the slot of S is stale (cS holds
--     it). Read only by a batch with a message in another second than S
--     (it moves the ring on, or is late), written only by such a batch or
--     one that starts a ring: about once per channel and second.
-- Both are kept in the bucket of S (read with bucketLoad, user.lua). RS =
-- 70 keeps the 60 s windows exact for messages up to 10 s older than the
-- channel's newest (messages reach decide slightly out of order).
local RS = 70
local vHdr = '<i8i4i4i4'
local vHdrLen = 20
local slotsFmt = '<' .. string.rep('i4', RS)
local slotsLen = 4 * RS
local zeros = {}
for j = 1, RS do zeros[j] = 0 end
local rings = {}
do
  local got = windowLoad('vh:', kCh, nc)
  for c = 1, nc do
    local v = got[c]
    if v and #v == vHdrLen then
      local S, c10, c60, cS = sunpack(vHdr, v)
      rings[c] = { S = S, c10 = c10, c60 = c60, cS = cS }
    else
      rings[c] = { S = -1, c10 = 0, c60 = 0, cS = 0 }
    end
  end
  -- The slots of the channels with a message in another second than S.
  local need, cs, names = {}, {}, {}
  for i = 1, n do
    local c = mC[i]
    local r = rings[c]
    if r.S >= 0 and floor(mTs[i] / 1000) ~= r.S and not need[c] then
      need[c] = true
      cs[#cs + 1] = c
      names[#cs] = ARGV[kCh + c - 1]
    end
  end
  if #names > 0 then
    local vals = bucketLoad(P .. 'vs:', winTTL, lateMax, names, #names, maxSec)
    for k = 1, #names do
      local c, v = cs[k], vals[k]
      local r = rings[c]
      if v and #v == slotsLen then
        local t = { sunpack(slotsFmt, v) }
        t[RS + 1] = nil -- the next position, not a slot
        t[1 + r.S % RS] = r.cS
        r.t = t
      else
        rings[c] = { S = -1, c10 = 0, c60 = 0, cS = 0 } -- slots lost: start over
      end
    end
  end
end

-- advance moves r's newest second to sec (> r.S): seconds leave the window
-- sums and their slots are reused. While r.t is held, its slot of r.S
-- holds r.cS.
local function advance(r, sec)
  local S = r.S
  if S < 0 or sec - S >= RS then
    r.t = { unpack(zeros) }
    r.c10, r.c60 = 0, 0
  else
    local t, c10, c60 = r.t, r.c10, r.c60
    for s = S + 1, sec do
      c10 = c10 - t[1 + (s - 10) % RS]
      c60 = c60 - t[1 + (s - 60) % RS]
      t[1 + s % RS] = 0
    end
    r.c10, r.c60 = c10, c60
  end
  r.S, r.cS = sec, 0
  r.dirty, r.slotsDirty = true, true
end

-- velocity returns the channel's message counts in the 10 and 60 seconds up
-- to second sec.
local function velocity(r, sec)
  if sec > r.S then advance(r, sec) end
  if sec == r.S then return r.c10, r.c60 end
  local t, c10, c60 = r.t, 0, 0
  for s = mmax(sec - 59, r.S - RS + 1), sec do
    local x = t[1 + s % RS]
    c60 = c60 + x
    if s > sec - 10 then c10 = c10 + x end
  end
  return c10, c60
end

-- count adds a message at second sec. A message older than the ring's RS
-- seconds is not counted.
local function count(r, sec)
  if sec > r.S then advance(r, sec) end
  local S = r.S
  if sec <= S - RS then return end
  local t = r.t
  if sec == S then
    r.cS = r.cS + 1
  else
    r.slotsDirty = true
  end
  if t then
    local j = 1 + sec % RS
    t[j] = t[j] + 1
  end
  if sec > S - 60 then r.c60 = r.c60 + 1 end
  if sec > S - 10 then r.c10 = r.c10 + 1 end
  r.dirty = true
end

-- Copypasta rings: hash dr:<bucket>, field "<channel>:<hash>", value = the
-- newest 10 s period B seen with that text and the message counts of the
-- periods B-7..B (period p in slot 2 + p % 8). A message's count is the sum
-- over its period and the five before (the last 50-60 s); periods up to two
-- behind the newest are still exact.
local DS = 8
local dFmt = '<i8' .. string.rep('i4', DS)
local dLen = 8 + 4 * DS
local drings = {}
if nd > 0 then
  local got = windowLoad('dr:', kD, nd)
  for j = 1, nd do
    local r
    local v = got[j]
    if v and #v == dLen then
      r = { sunpack(dFmt, v) }
      r[DS + 2] = nil
    else
      r = { -1, 0, 0, 0, 0, 0, 0, 0, 0 } -- DS zeros
    end
    drings[j] = r
  end
end

-- dupCount returns the messages with the text in the periods p-5..p, then
-- adds one in period p.
local function dupCount(r, p)
  local B = r[1]
  if p > B then
    if B < 0 or p - B >= DS then
      for k = 2, DS + 1 do r[k] = 0 end
    else
      for q = B + 1, p do r[2 + q % DS] = 0 end
    end
    r[1], B = p, p
  end
  local dup = 0
  for q = mmax(p - 5, B - DS + 1), p do dup = dup + r[2 + q % DS] end
  if p > B - DS then
    local k = 2 + p % DS
    r[k] = r[k] + 1
  end
  r.dirty = true
  return dup
end

-- Login -> user id mappings (for moderator events naming only a login):
-- hash ln:<half user TTL bucket>, field "<channel>:<login>"; written from
-- a user's second message in the channel on (a first message is found
-- through its cached snapshot, which carries the history field, so the
-- first-time chatters of a raid cost no mapping), refreshed once per
-- bucket per user, looked up by mod.lua in three buckets.
local lnW = userTTL * 500
local lnSet = {} -- bucket -> {field, user id, ...}

-- 2. Compute every message's snapshot and apply the message.
local users, raids = {}, {}
local out = {}
for i = 1, n do
  local snap = cached[mMh[i]]
  if snap then
    out[i] = snap
  else
    local ts, ui, di, ci, h, login = mTs[i], mU[i], mD[i], mC[i], mH[i], mLogin[i]
    local u = users[ui]
    if u == nil then
      u = userDecode(vals[ui] or nil)
      users[ui] = u
    end
    local known = u.n > 0
    local same = 0
    if h ~= noHash and u.lh == h then same = 1 end

    -- The user's recent message times: trimmed to 60 s before this message
    -- and to the newest maxRecent entries.
    local u10, u60 = 0, 0
    local recent = {}
    if u.nrt > 0 then
      local t = { sunpack(int64s(u.nrt), u.rt) }
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
    local sec = floor(ts / 1000)
    local r = rings[ci]
    local c10, c60 = velocity(r, sec)

    local rs = raids[ci]
    if rs == nil then
      rs = tonumber(raidVals[ci]) or -1
      raids[ci] = rs
    end
    local raidActive = 0
    if rs >= 0 and ts >= rs - 10000 and ts < rs + raidWin then raidActive = 1 end
    if raidVel > 0 and c10 >= raidVel then raidActive = 1 end

    local dup = 0
    if di > 0 then dup = dupCount(drings[di], floor(sec / 10)) end

    snap = spack(snapFmt, u.n, u10, u60, u.first, u.last, same, u.sw, u.sd, u.st, u.hd, u.ht, u.hb,
      u.lsa, u.lsw, c10, c60, raidActive, dup)

    -- Apply the message.
    count(r, sec)
    u.n = u.n + 1
    if u.first == 0 or ts < u.first then u.first = ts end
    if ts > u.last then u.last = ts end
    u.lh = h
    local from = mmax(1, #recent - maxRecent + 1)
    u.nrt = #recent - from + 1
    u.rt = spack(int64s(u.nrt), unpack(recent, from))
    local lb = floor(ts / lnW)
    if known and login ~= '' and (u.lg ~= login or floor(u.lgt / lnW) ~= lb) then
      local chName = ARGV[kCh + ci - 1]
      bucketAdd(lnSet, lb, chName .. ':' .. login, ssub(ufields[ui], #chName + 2))
      u.lg, u.lgt = login, ts
    end
    u.dirty = true
    bucketAdd(cacheSet, floor(ts / cacheW), mMh[i], snap .. ufields[ui])
    cached[mMh[i]] = snap -- a duplicate later in the batch gets it too
    out[i] = snap
  end
end

-- 3. Write back: one HSET per bucket.
local uset = {}
for ui, u in pairs(users) do
  if u.dirty then userPut(uset, ub, ufound[ui], ufields[ui], userEncode(u)) end
end
userSave(P, userTTL, uset)

local vset, sset = {}, {}
for c, r in pairs(rings) do
  if r.dirty then
    local b, name = floor(r.S / winTTL), ARGV[kCh + c - 1]
    bucketAdd(vset, b, name, spack(vHdr, r.S, r.c10, r.c60, r.cS))
    if r.slotsDirty then bucketAdd(sset, b, name, spack(slotsFmt, unpack(r.t, 1, RS))) end
  end
end
bucketSave(P .. 'vh:', vset, 2 * winTTL, 0)
bucketSave(P .. 'vs:', sset, 2 * winTTL, 0)

local dset = {}
for j, r in pairs(drings) do
  if r.dirty then bucketAdd(dset, floor(r[1] * 10 / winTTL), ARGV[kD + j - 1], spack(dFmt, unpack(r, 1, DS + 1))) end
end
bucketSave(P .. 'dr:', dset, 2 * winTTL, 2)

bucketSave(P .. 'sc:', cacheSet, math.ceil((cacheGone + 1) * cacheW / 1000), cacheGone)
bucketSave(P .. 'ln:', lnSet, 2 * userTTL, 3)
return table.concat(out)
