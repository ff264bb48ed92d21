package features

// Snapshot is what the Redis feature store knows about a message's author and
// channel at the moment the message is decided, read (and then updated) in one
// round trip per batch. Counts are exact integers; times are Unix milliseconds
// (0 = never). The zero Snapshot means "nothing known" (a new user in a quiet
// channel) and is what a failed feature-store read degrades to.
type Snapshot struct {
	// Per user and channel.
	UserMsgCount    int64 // messages seen from this user in this channel (within the TTL)
	UserMsgs10s     int32 // messages from this user in the last 10 s, excluding this one
	UserMsgs60s     int32 // ... in the last 60 s
	FirstSeenMs     int64 // first message from this user in this channel
	LastMsgMs       int64 // previous message from this user in this channel
	SameAsLast      bool  // this message's normalised hash equals the user's previous one
	SysWarns        int32 // earlier WARNs executed by this system for this user in this channel
	SysDeletes      int32 // earlier DELETEs by this system
	SysTimeouts     int32 // earlier TIMEOUTs by this system
	HumanDeletes    int32 // earlier CLEARMSG deletions by human moderators
	HumanTimeouts   int32 // earlier CLEARCHAT timeouts by human moderators
	HumanBans       int32 // earlier permanent bans by human moderators
	LastSysActionMs int64 // time of this system's last non-IGNORE action on the user (cooldown)
	LastSysWarnMs   int64 // time of this system's last WARN on the user (escalation)

	// Per channel.
	ChanMsgs10s int32 // channel messages in the last 10 s (velocity)
	ChanMsgs60s int32 // channel messages in the last 60 s
	RaidActive  bool  // a raid USERNOTICE arrived recently or velocity jumped (raid mode)
	DupCount60s int32 // messages with this same normalised hash in the channel in the last 60 s (copypasta)
}
