-- user.lua: where (channel, user) histories live and their codec, shared by
-- snapshot.lua, sys.lua and mod.lua (the Go side prepends it to each of
-- them).
--
-- Histories are fields "<channel>:<user_id>" of hashes uh:<bucket>, bucket =
-- time (s) / user_ttl_s: a batch reads all its authors with one HMGET (and
-- a second one for those not yet in the current bucket) and writes them
-- with one HSET, instead of a key with its own expiry per user. A history
-- is always written to the newest bucket it was found in or the current
-- one, so the newest bucket holding it holds its latest version; readers
-- look in the current and the previous bucket, and in the next one when
-- within userLate seconds of it (a batch of slightly older messages after
-- a newer one). A bucket is unlinked (freed in the background) once a
-- bucket two later is written, and expires otherwise: a history lives 1 to
-- 2 user TTLs after its last write.
--
-- The history is ONE binary string (Redis's struct library, little-endian),
-- read and written whole, with no text parsing or formatting in Lua.
--
--   header (userHdr, 86 bytes):
--     n, first, last          int64  messages; first and previous message time (ms)
--     sw, sd, st              int32  system warns/deletes/timeouts
--     hd, ht, hb              int32  human deletes/timeouts/bans
--     lsa, lsw, lgt           int64  last system action/warn (ms); when ln:<channel>:<login> was refreshed (ms)
--     lh                      8 bytes  the previous message's text hash (8 zero bytes = none)
--     nrt, nc, nl             uint16 counts of recent times, cached snapshots, login bytes
--   login                     nl bytes  the last login seen
--   rt                        nrt int64  recent message times (ms), oldest first
--   cache                     nc entries of cacheEntry bytes: snapshots cached by
--                             earlier versions; read past and dropped (snapshot.lua
--                             now caches them in sc:<bucket>), so nc is written as 0
-- Library functions used per message, as locals (a global lookup per call
-- is measurable in these loops).
local spack, sunpack, ssub, floor, mmax, mmin = struct.pack, struct.unpack, string.sub, math.floor, math.max, math.min

local userHdr = '<i8i8i8i4i4i4i4i4i4i8i8i8c8HHH'
local userHdrLen = 86
-- snapFmt is one snapshot in event.DecisionSnapshotNames order.
local snapFmt = '<i8i4i4i8i8i4i4i4i4i4i4i4i8i8i4i4i4i4'
local snapLen = 92
local cacheEntry = 16 + snapLen
local noHash = string.rep('\0', 8)

-- The snapshot cache (snapshot.lua writes it, mod.lua reads it): hashes
-- sc:<bucket>, a bucket spanning cacheWidth(snapshot_ttl_ms) ms of message
-- time, unlinked once the bucket cacheGone later is written.
local cacheGone = 5
local function cacheWidth(snapTTLms) return mmax(1000, floor(snapTTLms / 4)) end

-- int64s returns the struct format of k little-endian int64s (cached).
local int64Fmts = {}
local function int64s(k)
  local f = int64Fmts[k]
  if f == nil then
    f = '<' .. string.rep('i8', k)
    int64Fmts[k] = f
  end
  return f
end

-- userDecode returns the history held in v (nil, false or malformed: a new
-- user, everything 0). rt stays a binary string.
local function userDecode(v)
  if v and #v >= userHdrLen then
    local n, first, last, sw, sd, st, hd, ht, hb, lsa, lsw, lgt, lh, nrt, nc, nl = sunpack(userHdr, v)
    if #v == userHdrLen + nl + 8 * nrt + cacheEntry * nc then
      local o = userHdrLen + nl + 1
      return { n = n, first = first, last = last, sw = sw, sd = sd, st = st, hd = hd, ht = ht, hb = hb,
        lsa = lsa, lsw = lsw, lgt = lgt, lh = lh, nrt = nrt,
        lg = ssub(v, userHdrLen + 1, o - 1),
        rt = ssub(v, o, o + 8 * nrt - 1) }
    end
  end
  return { n = 0, first = 0, last = 0, sw = 0, sd = 0, st = 0, hd = 0, ht = 0, hb = 0, lsa = 0, lsw = 0, lgt = 0,
    lh = noHash, nrt = 0, lg = '', rt = '' }
end

-- call1 runs redis.call(cmd, key, list[a..b]) (key may be nil) and returns
-- its reply, {} when that is not an array.
local function call1(cmd, key, list, a, b)
  local part
  if key then part = redis.call(cmd, key, unpack(list, a, b)) else part = redis.call(cmd, unpack(list, a, b)) end
  if type(part) == 'table' then return part end
  return {}
end

-- calls runs call1 over list[from..to] in slices small enough for unpack
-- and returns the replies concatenated (the reply itself when one slice
-- does: no copy).
local function calls(cmd, key, list, from, to)
  if to < from then return {} end
  if to - from < 4000 then return call1(cmd, key, list, from, to) end
  local res = {}
  for a = from, to, 4000 do
    local part = call1(cmd, key, list, a, mmin(a + 3999, to))
    for j = 1, #part do res[#res + 1] = part[j] end
  end
  return res
end

-- bucketAdd adds field = value to set[b] (set maps bucket -> {field,
-- value, ...}, what bucketSave writes).
local function bucketAdd(set, b, field, value)
  local l = set[b]
  if l == nil then
    l = {}
    set[b] = l
  end
  l[#l + 1] = field
  l[#l + 1] = value
end

-- bucketLoad reads fields[1..n] of the hashes <prefix><bucket> (buckets of
-- width seconds) for a batch whose newest time is sec (s): the batch's
-- bucket, the one before, and the next one when within late seconds of
-- it. Values are written into the bucket of their newest time or a newer
-- one, so the first bucket holding a field, newest first, holds its
-- latest value: each bucket is asked only for the fields not found yet.
-- It returns the values (nil when absent) and the bucket each was found in.
local function bucketLoad(prefix, width, late, fields, n, sec)
  local b = floor(sec / width)
  local bs = { b, b - 1 }
  if (b + 1) * width - sec <= late then bs = { b + 1, b, b - 1 } end
  local vals, found = {}, {}
  local idx = nil -- nil: every field (the first bucket)
  for _, bk in ipairs(bs) do
    local names, m = fields, n
    if idx then
      m = #idx
      names = {}
      for k = 1, m do names[k] = fields[idx[k]] end
    end
    if m == 0 then break end
    local got = calls('HMGET', prefix .. bk, names, 1, m)
    local rest = {}
    for k = 1, m do
      local j = k
      if idx then j = idx[k] end
      if got[k] then
        vals[j], found[j] = got[k], bk
      else
        rest[#rest + 1] = j
      end
    end
    idx = rest
  end
  return vals, found
end

-- bucketSave writes set (bucket -> {field, value, ...}) into
-- <prefix><bucket> with the given TTL (s); when gone > 0 it also unlinks
-- bucket - gone, which left every reader's reach: a large hash is freed in
-- the background (UNLINK) instead of stalling Redis when it expires.
local function bucketSave(prefix, set, ttl, gone)
  for b, l in pairs(set) do
    calls('HSET', prefix .. b, l, 1, #l)
    redis.call('EXPIRE', prefix .. b, ttl)
    if gone > 0 then redis.call('UNLINK', prefix .. (b - gone)) end
  end
end

local userLate = 600

-- userLoad reads the histories named by fields[1..n] for a batch whose
-- newest time is sec (s). It returns the values (nil when absent) and the
-- bucket each was found in.
local function userLoad(P, userTTL, fields, n, sec)
  return bucketLoad(P .. 'uh:', userTTL, userLate, fields, n, sec)
end

-- userSave writes histories: byBucket maps bucket -> {field, value, ...}.
local function userSave(P, userTTL, byBucket)
  bucketSave(P .. 'uh:', byBucket, userTTL + 2 * userLate + 60, 2)
end

-- userPut adds a history to byBucket: into the bucket it was found in
-- (found, may be nil) or the current one (cur), whichever is newer.
local function userPut(byBucket, cur, found, field, value)
  if found and found > cur then cur = found end
  bucketAdd(byBucket, cur, field, value)
end

-- userEncode returns the binary form of u (one pack: c0 packs a whole
-- string).
local userEnc = userHdr .. 'c0c0'
local function userEncode(u)
  return spack(userEnc, u.n, u.first, u.last, u.sw, u.sd, u.st, u.hd, u.ht, u.hb, u.lsa, u.lsw, u.lgt,
    u.lh, u.nrt, 0, #u.lg, u.lg, u.rt)
end
