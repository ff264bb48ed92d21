-- user.lua: the codec of a (channel, user) history, key u:<channel>:<user>,
-- shared by snapshot.lua, sys.lua and mod.lua (the Go side prepends it to
-- each of them). The history is ONE binary string (Redis's struct library,
-- little-endian), read and written whole: a message costs one MGET slot and
-- one SET ... EX, with no text parsing or formatting in Lua.
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

-- userEncode returns the binary form of u.
local function userEncode(u)
  return spack(userHdr, u.n, u.first, u.last, u.sw, u.sd, u.st, u.hd, u.ht, u.hb, u.lsa, u.lsw, u.lgt,
    u.lh, u.nrt, 0, #u.lg) .. u.lg .. u.rt
end
