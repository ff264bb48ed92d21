package irc

// ClearKind says what a CLEARCHAT did.
type ClearKind uint8

// CLEARCHAT outcomes: no trailing param clears the whole chat; a target with
// ban-duration is a timeout; a target without it is a permanent ban.
const (
	ClearNone    ClearKind = iota // not a CLEARCHAT
	ClearAll                      // whole chat cleared
	ClearTimeout                  // target timed out for BanDurationS seconds
	ClearBan                      // target permanently banned
)

// String returns "none", "clear", "timeout" or "ban".
func (k ClearKind) String() string {
	switch k {
	case ClearAll:
		return "clear"
	case ClearTimeout:
		return "timeout"
	case ClearBan:
		return "ban"
	}
	return "none"
}

// RoomStateKeys is a bit set of the settings a ROOMSTATE line carried.
type RoomStateKeys uint8

// Settings a ROOMSTATE may carry. A partial update carries only the changed
// key(s) plus room-id.
const (
	HasEmoteOnly RoomStateKeys = 1 << iota
	HasFollowersOnly
	HasR9K
	HasSlow
	HasSubsOnly
)

// RoomState holds the typed settings of a ROOMSTATE line. Only the fields
// whose bit is set in Has were present (with a valid value) on the line.
type RoomState struct {
	Has              RoomStateKeys
	EmoteOnly        bool
	FollowersOnlyMin int // -1 off, 0 any follower, N minutes of following required
	R9K              bool
	SlowS            int // seconds between messages; 0 off
	SubsOnly         bool
}

// Mod holds the fields of CLEARCHAT, CLEARMSG, USERNOTICE and ROOMSTATE lines
// for the moderator-event stream. Byte fields alias the parsed line; tag
// values are raw (still escaped, see Unescape); a field is nil when absent.
type Mod struct {
	RoomID, Channel []byte // room-id tag (empty but present on CLEARMSG); channel without '#'
	TargetUserID    []byte // CLEARCHAT target-user-id
	TargetLogin     []byte // CLEARCHAT trailing param (the timed-out or banned login)
	TargetMsgID     []byte // CLEARMSG target-msg-id (the deleted message's id)
	MsgIDTag        []byte // msg-id tag: USERNOTICE type (sub, raid, announcement, ...)
	Text            []byte // CLEARMSG / USERNOTICE trailing param as on the wire
	Login           []byte // login tag (USERNOTICE sender, CLEARMSG author)
	MsgID           []byte // id tag (USERNOTICE's own message id)
	UserID          []byte // user-id tag (USERNOTICE sender)

	BanDurationS   int64 // CLEARCHAT ban-duration in seconds
	HasBanDuration bool
	TmiSentTs      int64 // ms since the epoch (may be negative on CLEARMSG); 0 if absent or bad
	Clear          ClearKind

	RaidViewers int    // USERNOTICE raid: msg-param-viewerCount
	RaidLogin   []byte // USERNOTICE raid: msg-param-login (the raiding channel)

	Room RoomState // ROOMSTATE settings
}

// ParseMod extracts a Mod from a parsed CLEARCHAT, CLEARMSG, USERNOTICE or
// ROOMSTATE with one pass over its tags. It overwrites all of d and does not
// allocate. It returns ErrCommand for other commands and an ErrMalformed error
// when the channel is missing.
func ParseMod(m *Message, d *Mod) error {
	*d = Mod{}
	switch m.Command {
	case CmdClearChat, CmdClearMsg, CmdUserNotice, CmdRoomState:
	default:
		return ErrCommand
	}
	if m.Channel == nil {
		return errNoChannel
	}
	d.Channel = m.Channel

	var viewers, raider []byte
	room := m.Command == CmdRoomState
	// Written out (not a call to nextTag) so that the SWAR searches inline.
	for tags := m.Tags; len(tags) > 0; {
		tag := tags
		tags = nil
		if e := indexSemi(tag); e >= 0 {
			tag, tags = tag[:e], tag[e+1:]
		}
		key, val := tag, tag[len(tag):]
		if k := indexEq(tag); k >= 0 {
			key, val = tag[:k], tag[k+1:]
		}
		switch string(key) {
		case "ban-duration":
			d.BanDurationS, d.HasBanDuration = parseInt(val)
		case "emote-only":
			if room && isBool(val) {
				d.Room.Has |= HasEmoteOnly
				d.Room.EmoteOnly = isOne(val)
			}
		case "followers-only":
			if v, ok := parseInt(val); room && ok {
				d.Room.Has |= HasFollowersOnly
				d.Room.FollowersOnlyMin = int(v)
			}
		case "id":
			d.MsgID = val
		case "login":
			d.Login = val
		case "msg-id":
			d.MsgIDTag = val
		case "msg-param-login":
			raider = val
		case "msg-param-viewerCount":
			viewers = val
		case "r9k":
			if room && isBool(val) {
				d.Room.Has |= HasR9K
				d.Room.R9K = isOne(val)
			}
		case "room-id":
			d.RoomID = val
		case "slow":
			if v, ok := parseInt(val); room && ok && v >= 0 {
				d.Room.Has |= HasSlow
				d.Room.SlowS = int(v)
			}
		case "subs-only":
			if room && isBool(val) {
				d.Room.Has |= HasSubsOnly
				d.Room.SubsOnly = isOne(val)
			}
		case "target-msg-id":
			d.TargetMsgID = val
		case "target-user-id":
			d.TargetUserID = val
		case "tmi-sent-ts":
			d.TmiSentTs, _ = parseInt(val)
		case "user-id":
			d.UserID = val
		}
	}

	switch m.Command {
	case CmdClearChat:
		switch {
		case len(m.Trailing) == 0:
			d.Clear = ClearAll
		case d.HasBanDuration:
			d.Clear = ClearTimeout
			d.TargetLogin = m.Trailing
		default:
			d.Clear = ClearBan
			d.TargetLogin = m.Trailing
		}
	case CmdClearMsg, CmdUserNotice:
		if m.HasTrailing {
			d.Text = m.Trailing
		}
		if string(d.MsgIDTag) == "raid" {
			d.RaidLogin = raider
			d.RaidViewers = int(parseUint(viewers))
		}
	}
	return nil
}

func isBool(v []byte) bool { return len(v) == 1 && (v[0] == '0' || v[0] == '1') }
