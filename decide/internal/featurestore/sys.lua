-- sys.lua: record actions this system executed (applySys, sysapply.lua)
-- when no batch of messages takes them along.
--
-- ARGV: prefix, user_ttl_s, mark_ttl_s, n,
--       then n times: channel, user_id, msg_id, kind ("W", "D" or "T"), ts_ms
-- Returns the number of actions applied.
return applySys(ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV, 5, tonumber(ARGV[4]))
