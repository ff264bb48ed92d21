// Package featurestore keeps the per-user and per-channel history that
// decide's features need in Redis, and reads it and updates it for a whole
// batch of chat messages in one round trip.
//
// Three Lua scripts do the work, loaded once and called with EVALSHA:
// snapshot.lua (per batch: each message's Snapshot as it was before the
// message, then the message applied), sys.lua (actions this system executed)
// and mod.lua (moderator and raid events). All times come from the messages
// and events themselves, never from Redis TIME, so the stored state, and the
// snapshots logged with each decision, depend only on the input.
//
// Keys (all under Config.Prefix; <cu> is "<channel>:<user_id>"):
//
//	u:<cu>                hash: n, first, last, lh (last text hash), rt (CSV of the
//	                      user's recent message times, trimmed to 60 s and MaxRecent
//	                      entries), sw/sd/st (system warns/deletes/timeouts), hd/ht/hb
//	                      (human deletes/timeouts/bans), lsa/lsw (last system
//	                      action/warn ms), lg/lgt (login, when ln: was refreshed)
//	                                                                   TTL UserTTL
//	v:<channel>:<sec>     channel messages in one second               TTL WindowTTL
//	d:<channel>:<hash>    same-text messages: CSV of <10 s bucket>:<count>, last 6
//	                                                                   TTL WindowTTL
//	raid:<channel>        time of the last raid event (ms)             TTL RaidWindow+60s
//	ln:<channel>:<login>  login -> user id, for CLEARMSG deletes       TTL UserTTL
//	s:<msg_id>            the message's snapshot (idempotency)         TTL SnapshotTTL
//	sa:<msg_id>           system action applied (idempotency)          TTL UserTTL
//	sd:<msg_id>, st:<cu>  marks of our own deletes/timeouts            TTL MarkTTL
//	ma:<entry_id>         mod event applied (idempotency)              TTL UserTTL
//
// Per message the script makes seven Redis calls (GET s:, HMGET u:, GET and
// SET d:, HSET and EXPIRE u:, SET s:); the
// channel velocity is read once per channel and second and written once per
// channel and second per batch.
//
// Every key has a TTL, so memory is bounded by traffic within the TTLs. The
// scripts build key names from their arguments, so the store needs a
// standalone Redis (or a single shard), not a Redis Cluster.
package featurestore
