// Package featurestore keeps the per-user and per-channel history that
// decide's features need in Redis, and reads it and updates it for a whole
// batch of chat messages in one round trip.
//
// Three Lua scripts do the work, loaded once and called with EVALSHA:
// snapshot.lua (per batch: the system actions handed over, then each
// message's Snapshot as it was before the message, then the message
// applied), sys.lua (actions this system executed, when no batch takes them
// along) and mod.lua (moderator and raid events); user.lua (where histories
// live and their codec) and sysapply.lua (applying system actions) are
// prepended to each. All times come from the messages
// and events themselves, never from Redis TIME, so the stored state, and the
// snapshots logged with each decision, depend only on the input.
//
// Keys (all under Config.Prefix):
//
//	uh:<bucket>            hash "<channel>:<user_id>" -> the (channel, user) history,
//	                       ONE binary string (user.lua): counters, first/last/
//	                       last-action times, last text hash, login and recent
//	                       message times (60 s, at most MaxRecent); bucket = time
//	                       / UserTTL; a history moves to the current bucket when
//	                       written; unlinked two buckets later
//	                                                   TTL UserTTL+21min
//	sc:<bucket>            hash msg id hash -> the message's snapshot (idempotency)
//	                       and its author's history field (for CLEARMSG deletes);
//	                       bucket = message time / (SnapshotTTL/4); unlinked once
//	                       bucket+5 is written              TTL 1.5*SnapshotTTL
//	vh:<bucket>            hash channel -> velocity header: the newest second,
//	                       the message counts in the 10 and 60 s up to it and
//	                       in that second; bucket = second / WindowTTL
//	                                                   TTL 2*WindowTTL
//	vs:<bucket>            hash channel -> the counts of the 70 seconds up to
//	                       the newest (exact 60 s windows for messages up to
//	                       10 s late); read and written only when a batch
//	                       moves a channel to a new second or is late
//	                                                   TTL 2*WindowTTL
//	dr:<bucket>            hash "<channel>:<text hash>" -> copypasta ring: the
//	                       newest 10 s period and the counts of the 8 periods up
//	                       to it; unlinked two buckets later      TTL 2*WindowTTL
//	ln:<bucket>            hash "<channel>:<login>" -> user id, for CLEARMSG deletes;
//	                       written from a user's second message in the channel
//	                       on (a first message's author is found through its
//	                       sc: entry while that lives); bucket = half a
//	                       UserTTL; refreshed once per bucket     TTL 2*UserTTL
//	raid:<channel>         time of the last raid event (ms)       TTL RaidWindow+60s
//	sa:<msg_id>            system action applied (idempotency)    TTL UserTTL
//	sd:<msg_id>, st:<cu>   marks of our own deletes/timeouts      TTL MarkTTL
//	ma:<entry_id>          mod event applied (idempotency)        TTL UserTTL
//
// Versions before vh:/vs: kept each channel's ring whole in vr:<bucket>;
// a newer decide ignores those keys (they expire within 2*WindowTTL), so
// right after that upgrade channel velocities count from zero for a minute.
//
// A call from Lua into Redis costs more than most commands' own work, so
// snapshot.lua makes a fixed number of calls per batch: the Go side passes
// every key and field name
// deduplicated, one MGET reads the raid marks, the histories, the snapshot
// cache and the per-channel and copypasta state live in a few hashes per
// time bucket (one HMGET per bucket read, one HSET per bucket written), and
// values are binary, never parsed as text. BenchmarkSnapshots_Load measures the Redis CPU per
// message with the load test's traffic mix.
//
// Every key has a TTL, so memory is bounded by traffic within the TTLs. The
// scripts build key names from their arguments, so the store needs a
// standalone Redis (or a single shard), not a Redis Cluster.
package featurestore
