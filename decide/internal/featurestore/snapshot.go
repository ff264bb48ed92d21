package featurestore

import (
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Pack writes s in event.DecisionSnapshotNames order, the form the decision
// log and the store's scripts use.
func Pack(s *features.Snapshot, row *[event.DecisionSnapshotLen]int64) {
	*row = [event.DecisionSnapshotLen]int64{
		s.UserMsgCount, int64(s.UserMsgs10s), int64(s.UserMsgs60s), s.FirstSeenMs, s.LastMsgMs, b2i(s.SameAsLast),
		int64(s.SysWarns), int64(s.SysDeletes), int64(s.SysTimeouts),
		int64(s.HumanDeletes), int64(s.HumanTimeouts), int64(s.HumanBans),
		s.LastSysActionMs, s.LastSysWarnMs,
		int64(s.ChanMsgs10s), int64(s.ChanMsgs60s), b2i(s.RaidActive), int64(s.DupCount60s),
	}
}

// Unpack is the inverse of Pack. Counts beyond int32 saturate.
func Unpack(row *[event.DecisionSnapshotLen]int64) features.Snapshot {
	r := row
	return features.Snapshot{
		UserMsgCount: r[0], UserMsgs10s: i32(r[1]), UserMsgs60s: i32(r[2]), FirstSeenMs: r[3], LastMsgMs: r[4], SameAsLast: r[5] != 0,
		SysWarns: i32(r[6]), SysDeletes: i32(r[7]), SysTimeouts: i32(r[8]),
		HumanDeletes: i32(r[9]), HumanTimeouts: i32(r[10]), HumanBans: i32(r[11]),
		LastSysActionMs: r[12], LastSysWarnMs: r[13],
		ChanMsgs10s: i32(r[14]), ChanMsgs60s: i32(r[15]), RaidActive: r[16] != 0, DupCount60s: i32(r[17]),
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func i32(v int64) int32 {
	const lo, hi = -1 << 31, 1<<31 - 1
	return int32(min(max(v, lo), hi))
}
