-- mod.lua: apply moderator and channel events from the mod stream. Each
-- event is applied once per stream entry id (marker ma:<entry_id>).
--   raid      -> raid:<channel> = ts (the raid window is checked against
--                message times by snapshot.lua)
--   delete    -> human_deletes += 1, unless it deletes a message this system
--                deleted (mark sd:<msg_id>)
--   timeout   -> human_timeouts += 1, unless this system timed the user out
--                recently (mark st:<channel>:<user>, consumed)
--   ban       -> human_bans += 1
--   untimeout -> human_timeouts -= 1 (not below 0)
--   unban     -> human_bans -= 1 (not below 0)
-- Other kinds are ignored. Events naming only a login (CLEARMSG) are mapped
-- to the user id through the ln:<bucket> hashes, which snapshot.lua
-- maintains; ts_ms must be the event's time.
--
-- ARGV: prefix, user_ttl_s, raid_ttl_s, n,
--       then n times: entry_id, kind, channel, target_user_id, target_login, target_msg_id, ts_ms
-- Returns the number of events applied.
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local raidTTL = tonumber(ARGV[3])
local n = tonumber(ARGV[4])
local applied = 0
for i = 0, n - 1 do
  local b = 5 + i * 7
  local eid, kind, ch = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local user, login, mid, ts = ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6]
  if redis.call('SET', P .. 'ma:' .. eid, '1', 'NX', 'EX', userTTL) then
    applied = applied + 1
    if kind == 'raid' then
      redis.call('SET', P .. 'raid:' .. ch, ts, 'EX', raidTTL)
    else
      if user == '' and login ~= '' then
        -- snapshot.lua keeps the mapping in hash ln:<half user TTL bucket>,
        -- refreshed once per bucket: the last three buckets cover a user TTL.
        local lb = floor(tonumber(ts) / (userTTL * 500))
        for b = lb, lb - 2, -1 do
          user = redis.call('HGET', P .. 'ln:' .. b, ch .. ':' .. login)
          if user then break end
        end
        user = user or ''
      end
      if user ~= '' then
        local field = ch .. ':' .. user
        local sec = floor(tonumber(ts) / 1000)
        local vals, found = userLoad(P, userTTL, { field }, 1, sec)
        local u = userDecode(vals[1] or nil)
        local touched = true
        if kind == 'delete' then
          if mid ~= '' and redis.call('DEL', P .. 'sd:' .. mid) == 1 then
            touched = false
          else
            u.hd = u.hd + 1
          end
        elseif kind == 'timeout' then
          local tk = P .. 'st:' .. ch .. ':' .. user
          if (tonumber(redis.call('GET', tk)) or 0) > 0 then
            redis.call('DECR', tk)
            touched = false
          else
            u.ht = u.ht + 1
          end
        elseif kind == 'ban' then
          u.hb = u.hb + 1
        elseif kind == 'untimeout' and u.ht > 0 then
          u.ht = u.ht - 1
        elseif kind == 'unban' and u.hb > 0 then
          u.hb = u.hb - 1
        else
          touched = false
        end
        if touched then
          local set = {}
          userPut(set, floor(sec / userTTL), found[1], field, userEncode(u))
          userSave(P, userTTL, set)
        end
      end
    end
  end
end
return applied
