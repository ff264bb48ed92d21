-- sys.lua: record actions this system executed (WARN, DELETE, TIMEOUT) in
-- the authors' history. Each action is applied once per message id (marker
-- sa:<msg_id>), so retrying is safe. It also leaves short-lived marks so the
-- echo of our own action on the mod stream (CLEARMSG/CLEARCHAT, which do not
-- say who acted) is not counted as a human moderator's action.
--
-- ARGV: prefix, user_ttl_s, mark_ttl_s, n,
--       then n times: channel, user_id, msg_id, kind ("W", "D" or "T"), ts_ms
-- Returns the number of actions applied.
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local markTTL = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local applied = 0
for i = 0, n - 1 do
  local b = 5 + i * 5
  local ch, user, mid, kind, ts = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], tonumber(ARGV[b + 4])
  if redis.call('SET', P .. 'sa:' .. mid, '1', 'NX', 'EX', userTTL) then
    local cu = ch .. ':' .. user
    local uk = P .. 'u:' .. cu
    local u = userDecode(redis.call('GET', uk) or nil)
    if kind == 'W' then
      u.sw = u.sw + 1
      if ts > u.lsw then u.lsw = ts end
    elseif kind == 'D' then
      u.sd = u.sd + 1
      redis.call('SET', P .. 'sd:' .. mid, '1', 'EX', markTTL)
    elseif kind == 'T' then
      u.st = u.st + 1
      local tk = P .. 'st:' .. cu
      redis.call('INCR', tk)
      redis.call('EXPIRE', tk, markTTL)
    end
    if ts > u.lsa then u.lsa = ts end
    redis.call('SET', uk, userEncode(u), 'EX', userTTL)
    applied = applied + 1
  end
end
return applied
