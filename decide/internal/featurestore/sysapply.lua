-- sysapply.lua: applySys, shared by sys.lua (actions alone) and
-- snapshot.lua (the actions a batch hands over, applied before its
-- messages, so no extra round trip): record actions this system executed
-- (WARN, DELETE, TIMEOUT) in the authors' history. Each action is applied
-- once per message id (marker sa:<msg_id>), so retrying is safe. It also
-- leaves short-lived marks so the echo of our own action on the mod stream
-- (CLEARMSG/CLEARCHAT, which do not say who acted) is not counted as a
-- human moderator's action.
--
-- The n actions are A[base..], 5 values each: channel, user_id, msg_id,
-- kind ("W", "D" or "T"), ts_ms. Returns the number of actions applied.
local function applySys(P, userTTL, markTTL, A, base, n)
  -- The actions not applied yet (marker sa:<msg_id>), and their authors.
  local todo, fields, slot = {}, {}, {}
  local maxTs = 0
  for i = 0, n - 1 do
    local b = base + i * 5
    local ch, user, mid, kind, ts = A[b], A[b + 1], A[b + 2], A[b + 3], tonumber(A[b + 4])
    if redis.call('SET', P .. 'sa:' .. mid, '1', 'NX', 'EX', userTTL) then
      local f = ch .. ':' .. user
      if slot[f] == nil then
        fields[#fields + 1] = f
        slot[f] = #fields
      end
      todo[#todo + 1] = { u = slot[f], ch = ch, user = user, mid = mid, kind = kind, ts = ts }
      if ts > maxTs then maxTs = ts end
    end
  end
  if #todo == 0 then return 0 end

  local sec = floor(maxTs / 1000)
  local vals, found = userLoad(P, userTTL, fields, #fields, sec)
  local users = {}
  for _, a in ipairs(todo) do
    local u = users[a.u]
    if u == nil then
      u = userDecode(vals[a.u] or nil)
      users[a.u] = u
    end
    if a.kind == 'W' then
      u.sw = u.sw + 1
      if a.ts > u.lsw then u.lsw = a.ts end
    elseif a.kind == 'D' then
      u.sd = u.sd + 1
      redis.call('SET', P .. 'sd:' .. a.mid, '1', 'EX', markTTL)
    elseif a.kind == 'T' then
      u.st = u.st + 1
      local tk = P .. 'st:' .. a.ch .. ':' .. a.user
      redis.call('INCR', tk)
      redis.call('EXPIRE', tk, markTTL)
    end
    if a.ts > u.lsa then u.lsa = a.ts end
  end
  local set = {}
  local cur = floor(sec / userTTL)
  for j, u in pairs(users) do userPut(set, cur, found[j], fields[j], userEncode(u)) end
  userSave(P, userTTL, set)
  return #todo
end
