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
-- Other kinds are ignored. ts_ms must be the event's time. Events naming
-- only a login and a message (CLEARMSG) are mapped to the user id through
-- the ln:<bucket> hashes (written by snapshot.lua from a user's second
-- message in the channel on) or, failing that, through the deleted
-- message's cached snapshot (sc:<bucket>, kept at least snapshot_ttl_ms of
-- message time), whose value ends with the author's history field.
--
-- ARGV: prefix, user_ttl_s, raid_ttl_s, snapshot_ttl_ms, n,
--       then n times: entry_id, kind, channel, target_user_id, target_login,
--       target_msg_id, target msg id hash (8 bytes, empty = none), ts_ms
-- Returns the number of events applied.
local P = ARGV[1]
local userTTL = tonumber(ARGV[2])
local raidTTL = tonumber(ARGV[3])
local cacheW = cacheWidth(tonumber(ARGV[4]))
local n = tonumber(ARGV[5])
local snapLenField = snapLen + 1

-- cachedAuthor returns the user id of message mh in channel ch from its
-- cached snapshot (nil when not cached): the cache buckets from the one
-- after the event's time back to the oldest one kept (cacheGone before).
local function cachedAuthor(ch, mh, ts)
  local cb = floor(ts / cacheW)
  local prefix = ch .. ':'
  for b = cb + 1, cb - cacheGone, -1 do
    local v = redis.call('HGET', P .. 'sc:' .. b, mh)
    if v then
      local field = ssub(v, snapLenField)
      if ssub(field, 1, #prefix) == prefix and #field > #prefix then return ssub(field, #prefix + 1) end
      return nil
    end
  end
  return nil
end

local applied = 0
for i = 0, n - 1 do
  local b = 6 + i * 8
  local eid, kind, ch = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local user, login, mid, mh, ts = ARGV[b + 3], ARGV[b + 4], ARGV[b + 5], ARGV[b + 6], ARGV[b + 7]
  if redis.call('SET', P .. 'ma:' .. eid, '1', 'NX', 'EX', userTTL) then
    applied = applied + 1
    if kind == 'raid' then
      redis.call('SET', P .. 'raid:' .. ch, ts, 'EX', raidTTL)
    else
      local ours = false
      if kind == 'delete' and mid ~= '' then
        -- The echo of this system's own delete (mark left by sysapply.lua).
        ours = redis.call('DEL', P .. 'sd:' .. mid) == 1
      end
      if not ours and user == '' and login ~= '' then
        -- snapshot.lua keeps the mapping in hash ln:<half user TTL bucket>,
        -- refreshed once per bucket: the last three buckets cover a user TTL.
        local lb = floor(tonumber(ts) / (userTTL * 500))
        for b = lb, lb - 2, -1 do
          user = redis.call('HGET', P .. 'ln:' .. b, ch .. ':' .. login)
          if user then break end
        end
        if not user and #mh == 8 then user = cachedAuthor(ch, mh, tonumber(ts)) end
        user = user or ''
      end
      if not ours and user ~= '' then
        local field = ch .. ':' .. user
        local sec = floor(tonumber(ts) / 1000)
        local vals, found = userLoad(P, userTTL, { field }, 1, sec)
        local u = userDecode(vals[1] or nil)
        local touched = true
        if kind == 'delete' then
          u.hd = u.hd + 1
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
