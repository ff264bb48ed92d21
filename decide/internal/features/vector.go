package features

import "math"

// SetVersion names the vector layout below. Any change to Names, their order,
// or how a value is computed needs a new version (and a new
// schemas/features/<version>.json): logged states and trained policies are only
// comparable within one version.
const SetVersion = "fs-1"

// N is the length of a Vector.
const N = 44

// Vector is the state of one decision: N float32 values in the order of Names.
//
// Conventions: *_ratio values are in [0, 1]; *_log1p values are log(1+x) of a
// non-negative count or age; *_s values are ages in seconds, floored to whole
// tenths of a second and capped (see below); flags are 0 or 1. Every value is
// finite.
//
//	 0 msg_len_log1p            code points scored (Message.Runes)
//	 1 caps_ratio               upper / cased letters
//	 2 symbol_ratio             punctuation and symbols / code points
//	 3 longest_run_log1p        longest run of one repeated code point
//	 4 repeat_ratio             code points beyond the 2nd in runs of >= 3 / code points
//	 5 links_allowed            allow-listed links, capped at 5
//	 6 links_other              other links, capped at 5
//	 7 mentions_log1p           @mentions (reply prefix excluded)
//	 8 emote_count_log1p        emotes
//	 9 emote_ratio              emote code points / code points
//	10 blocked_terms            blocked-term matches, capped at 5
//	11 zalgo_ratio              combining marks / code points
//	12 art_ratio                Braille, box drawing, blocks, geometric shapes / code points
//	13 obfuscation_ratio        styled/look-alike/invisible characters / code points
//	14 is_broadcaster           Trust flags ...
//	15 is_moderator
//	16 is_vip
//	17 is_subscriber
//	18 sub_months_log1p         subscription months (badge-info)
//	19 first_msg                first-msg tag
//	20 returning_chatter        returning-chatter tag
//	21 is_reply
//	22 is_action                /me
//	23 user_msgs_log1p          Snapshot.UserMsgCount
//	24 user_msgs_10s_log1p      Snapshot.UserMsgs10s
//	25 user_msgs_60s_log1p      Snapshot.UserMsgs60s
//	26 user_age_s_log1p         now - FirstSeenMs, 0 if never seen, capped at 30 days
//	27 since_last_msg_s_log1p   now - LastMsgMs, capped at 1 day (also when never)
//	28 same_as_last             Snapshot.SameAsLast
//	29 sys_warns_log1p          Snapshot.SysWarns
//	30 sys_deletes_log1p        Snapshot.SysDeletes
//	31 sys_timeouts_log1p       Snapshot.SysTimeouts
//	32 human_deletes_log1p      Snapshot.HumanDeletes
//	33 human_timeouts_log1p     Snapshot.HumanTimeouts
//	34 human_bans_log1p         Snapshot.HumanBans
//	35 since_sys_action_s_log1p now - LastSysActionMs, capped at 1 day (also when never)
//	36 since_sys_warn_s_log1p   now - LastSysWarnMs, capped at 1 day (also when never)
//	37 chan_msgs_10s_log1p      Snapshot.ChanMsgs10s
//	38 chan_msgs_60s_log1p      Snapshot.ChanMsgs60s
//	39 raid_active              Snapshot.RaidActive
//	40 dup_60s_log1p            Snapshot.DupCount60s (same normalised hash in the channel)
//	41 new_user_links           links_other if first_msg or UserMsgCount < 3, else 0
//	42 caps_x_len               caps_ratio * clamp((cased letters - emote code points) / 40, 0, 1): shouting at length, outside emotes
//	43 dup_x_len                dup_60s_log1p * clamp((code points - 16) / 64, 0, 1): long copypasta, not short chants
type Vector [N]float32

// Indices into a Vector; Names[i] is the name of index i.
const (
	iMsgLen = iota
	iCapsRatio
	iSymbolRatio
	iLongestRun
	iRepeatRatio
	iLinksAllowed
	iLinksOther
	iMentions
	iEmoteCount
	iEmoteRatio
	iBlockedTerms
	iZalgoRatio
	iArtRatio
	iObfuscationRatio
	iBroadcaster
	iModerator
	iVIP
	iSubscriber
	iSubMonths
	iFirstMsg
	iReturningChatter
	iReply
	iAction
	iUserMsgs
	iUserMsgs10s
	iUserMsgs60s
	iUserAge
	iSinceLastMsg
	iSameAsLast
	iSysWarns
	iSysDeletes
	iSysTimeouts
	iHumanDeletes
	iHumanTimeouts
	iHumanBans
	iSinceSysAction
	iSinceSysWarn
	iChanMsgs10s
	iChanMsgs60s
	iRaidActive
	iDup60s
	iNewUserLinks
	iCapsXLen
	iDupXLen
	numFeatures
)

// The N check: this fails to compile when the list above and N disagree.
var _ [N - numFeatures]struct{}
var _ [numFeatures - N]struct{}

// Names are the snake_case feature names in Vector order; published as
// schemas/features/<SetVersion>.json.
var Names = [N]string{
	iMsgLen:           "msg_len_log1p",
	iCapsRatio:        "caps_ratio",
	iSymbolRatio:      "symbol_ratio",
	iLongestRun:       "longest_run_log1p",
	iRepeatRatio:      "repeat_ratio",
	iLinksAllowed:     "links_allowed",
	iLinksOther:       "links_other",
	iMentions:         "mentions_log1p",
	iEmoteCount:       "emote_count_log1p",
	iEmoteRatio:       "emote_ratio",
	iBlockedTerms:     "blocked_terms",
	iZalgoRatio:       "zalgo_ratio",
	iArtRatio:         "art_ratio",
	iObfuscationRatio: "obfuscation_ratio",
	iBroadcaster:      "is_broadcaster",
	iModerator:        "is_moderator",
	iVIP:              "is_vip",
	iSubscriber:       "is_subscriber",
	iSubMonths:        "sub_months_log1p",
	iFirstMsg:         "first_msg",
	iReturningChatter: "returning_chatter",
	iReply:            "is_reply",
	iAction:           "is_action",
	iUserMsgs:         "user_msgs_log1p",
	iUserMsgs10s:      "user_msgs_10s_log1p",
	iUserMsgs60s:      "user_msgs_60s_log1p",
	iUserAge:          "user_age_s_log1p",
	iSinceLastMsg:     "since_last_msg_s_log1p",
	iSameAsLast:       "same_as_last",
	iSysWarns:         "sys_warns_log1p",
	iSysDeletes:       "sys_deletes_log1p",
	iSysTimeouts:      "sys_timeouts_log1p",
	iHumanDeletes:     "human_deletes_log1p",
	iHumanTimeouts:    "human_timeouts_log1p",
	iHumanBans:        "human_bans_log1p",
	iSinceSysAction:   "since_sys_action_s_log1p",
	iSinceSysWarn:     "since_sys_warn_s_log1p",
	iChanMsgs10s:      "chan_msgs_10s_log1p",
	iChanMsgs60s:      "chan_msgs_60s_log1p",
	iRaidActive:       "raid_active",
	iDup60s:           "dup_60s_log1p",
	iNewUserLinks:     "new_user_links",
	iCapsXLen:         "caps_x_len",
	iDupXLen:          "dup_x_len",
}

// Index returns the position of the named feature in a Vector, or -1.
func Index(name string) int {
	for i, n := range Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Caps applied by Build.
const (
	MaxLinks      = 5                // links_allowed, links_other
	MaxTermHits   = 5                // blocked_terms
	MaxUserAgeS   = 30 * 24 * 3600.0 // user_age_s_log1p
	MaxSinceS     = 24 * 3600.0      // since_*_s_log1p (also the value for "never")
	newUserMsgs   = 3                // fewer earlier messages than this make a new user (new_user_links)
	capsFullLen   = 40               // cased letters (outside emotes) at which caps_x_len reaches caps_ratio
	dupMinRunes   = 16               // code points up to which dup_x_len is 0 (chants, emotes, "W")
	dupFullRunes  = 80               // code points at which dup_x_len reaches dup_60s_log1p
	log1pTableLen = 1024
)

// Trust holds the author's standing, from the PRIVMSG tags.
type Trust struct {
	Broadcaster      bool  // user-id == room-id, or the broadcaster badge
	Moderator        bool  // mod=1 or the moderator badge
	VIP              bool  // vip=1 or the vip badge
	Subscriber       bool  // subscriber=1
	SubMonths        int32 // badge-info subscriber/<months>
	FirstMsg         bool  // first-msg=1
	ReturningChatter bool  // returning-chatter=1
	IsReply          bool  // reply-parent-msg-id present
	IsAction         bool  // /me (CTCP ACTION)
}

// Build writes the state vector of one message into v. It is a pure function
// of its arguments: nowMs is the decision time in Unix milliseconds (the
// message's tmi-sent-ts, or the time decide read it) and is the only notion of
// time used, so a replay with the same inputs yields the same bits. s may be
// nil (nothing known, as the zero Snapshot).
func Build(m *Message, t Trust, s *Snapshot, nowMs int64, v *Vector) {
	var zero Snapshot
	if s == nil {
		s = &zero
	}
	v[iMsgLen] = log1pCount(int64(m.Runes))
	v[iCapsRatio] = m.CapsRatio
	v[iSymbolRatio] = m.SymbolRatio
	v[iLongestRun] = log1pCount(int64(m.LongestRun))
	v[iRepeatRatio] = m.RepeatRatio
	v[iLinksAllowed] = float32(min(m.AllowedLinks, MaxLinks))
	other := float32(min(m.OtherLinks(), MaxLinks))
	v[iLinksOther] = other
	v[iMentions] = log1pCount(int64(m.Mentions))
	v[iEmoteCount] = log1pCount(int64(m.EmoteCount))
	v[iEmoteRatio] = m.EmoteRatio
	v[iBlockedTerms] = float32(min(m.TermHits, MaxTermHits))
	v[iZalgoRatio] = m.ZalgoRatio
	v[iArtRatio] = m.ArtRatio
	v[iObfuscationRatio] = m.ObfuscationRatio

	v[iBroadcaster] = oneIf(t.Broadcaster)
	v[iModerator] = oneIf(t.Moderator)
	v[iVIP] = oneIf(t.VIP)
	v[iSubscriber] = oneIf(t.Subscriber)
	v[iSubMonths] = log1pCount(int64(t.SubMonths))
	v[iFirstMsg] = oneIf(t.FirstMsg)
	v[iReturningChatter] = oneIf(t.ReturningChatter)
	v[iReply] = oneIf(t.IsReply)
	v[iAction] = oneIf(t.IsAction)

	v[iUserMsgs] = log1pCount(s.UserMsgCount)
	v[iUserMsgs10s] = log1pCount(int64(s.UserMsgs10s))
	v[iUserMsgs60s] = log1pCount(int64(s.UserMsgs60s))
	if s.FirstSeenMs == 0 {
		v[iUserAge] = 0
	} else {
		v[iUserAge] = log1pAge(nowMs, s.FirstSeenMs, MaxUserAgeS)
	}
	v[iSinceLastMsg] = log1pAge(nowMs, s.LastMsgMs, MaxSinceS)
	v[iSameAsLast] = oneIf(s.SameAsLast)
	v[iSysWarns] = log1pCount(int64(s.SysWarns))
	v[iSysDeletes] = log1pCount(int64(s.SysDeletes))
	v[iSysTimeouts] = log1pCount(int64(s.SysTimeouts))
	v[iHumanDeletes] = log1pCount(int64(s.HumanDeletes))
	v[iHumanTimeouts] = log1pCount(int64(s.HumanTimeouts))
	v[iHumanBans] = log1pCount(int64(s.HumanBans))
	v[iSinceSysAction] = log1pAge(nowMs, s.LastSysActionMs, MaxSinceS)
	v[iSinceSysWarn] = log1pAge(nowMs, s.LastSysWarnMs, MaxSinceS)

	v[iChanMsgs10s] = log1pCount(int64(s.ChanMsgs10s))
	v[iChanMsgs60s] = log1pCount(int64(s.ChanMsgs60s))
	v[iRaidActive] = oneIf(s.RaidActive)
	dup := log1pCount(int64(s.DupCount60s))
	v[iDup60s] = dup

	if t.FirstMsg || s.UserMsgCount < newUserMsgs {
		v[iNewUserLinks] = other
	} else {
		v[iNewUserLinks] = 0
	}
	v[iCapsXLen] = m.CapsRatio * clamp01(float32(m.Upper+m.Lower-m.EmoteChars)/capsFullLen)
	v[iDupXLen] = dup * clamp01(float32(m.Runes-dupMinRunes)/(dupFullRunes-dupMinRunes))
}

// clamp01 clamps x to [0, 1].
func clamp01(x float32) float32 { return min(max(x, 0), 1) }

func oneIf(b bool) float32 {
	if b {
		return 1
	}
	return 0
}

// log1pTable caches log1p(n) for small counts (math.Log1p costs more than the
// rest of Build).
var log1pTable = func() (t [log1pTableLen]float32) {
	for i := range t {
		t[i] = float32(math.Log1p(float64(i)))
	}
	return t
}()

// log1pCount returns log(1+n) for n >= 0 and 0 for negative n.
func log1pCount(n int64) float32 {
	switch {
	case n <= 0:
		return 0
	case n < log1pTableLen:
		return log1pTable[n]
	}
	return float32(math.Log1p(float64(n)))
}

// log1pAge returns log(1+t) where t is the time from thenMs to nowMs in
// whole tenths of a second, clamped to [0, maxS]; thenMs == 0 (never) counts
// as maxS. Short ages come from a table and the caps are precomputed, so
// math.Log1p runs only for ages between 102.4 s and the cap.
func log1pAge(nowMs, thenMs int64, maxS float64) float32 {
	maxTenths := int64(maxS * 10)
	tenths := maxTenths
	if thenMs != 0 {
		tenths = min(max((nowMs-thenMs)/100, 0), maxTenths)
	}
	switch {
	case tenths < log1pTableLen:
		return log1pTenths[tenths]
	case tenths == maxSinceTenths:
		return log1pMaxSince
	case tenths == maxUserAgeTenths:
		return log1pMaxUserAge
	}
	return float32(math.Log1p(float64(tenths) / 10))
}

// The caps of log1pAge in tenths of a second, and their logarithms.
const (
	maxSinceTenths   = int64(MaxSinceS * 10)
	maxUserAgeTenths = int64(MaxUserAgeS * 10)
)

var (
	log1pMaxSince   = float32(math.Log1p(float64(maxSinceTenths) / 10))
	log1pMaxUserAge = float32(math.Log1p(float64(maxUserAgeTenths) / 10))
)

// log1pTenths caches log(1 + i/10).
var log1pTenths = func() (t [log1pTableLen]float32) {
	for i := range t {
		t[i] = float32(math.Log1p(float64(i) / 10))
	}
	return t
}()
