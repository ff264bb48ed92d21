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
-- to the user id through ln:<channel>:<login>, which snapshot.lua maintains.
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
        user = redis.call('GET', P .. 'ln:' .. ch .. ':' .. login) or ''
      end
      if user ~= '' then
        local cu = ch .. ':' .. user
        local uk = P .. 'u:' .. cu
        local touched = true
        if kind == 'delete' then
          if mid ~= '' and redis.call('DEL', P .. 'sd:' .. mid) == 1 then
            touched = false
          else
            redis.call('HINCRBY', uk, 'hd', 1)
          end
        elseif kind == 'timeout' then
          local tk = P .. 'st:' .. cu
          if (tonumber(redis.call('GET', tk)) or 0) > 0 then
            redis.call('DECR', tk)
            touched = false
          else
            redis.call('HINCRBY', uk, 'ht', 1)
          end
        elseif kind == 'ban' then
          redis.call('HINCRBY', uk, 'hb', 1)
        elseif kind == 'untimeout' then
          if (tonumber(redis.call('HGET', uk, 'ht')) or 0) > 0 then redis.call('HINCRBY', uk, 'ht', -1) end
        elseif kind == 'unban' then
          if (tonumber(redis.call('HGET', uk, 'hb')) or 0) > 0 then redis.call('HINCRBY', uk, 'hb', -1) end
        else
          touched = false
        end
        if touched then redis.call('EXPIRE', uk, userTTL) end
      end
    end
  end
end
return applied
