package event

import (
	"fmt"
	"strconv"
)

// ModSchemaVersion is the version of the moderator-event layout below.
const ModSchemaVersion = "1"

// ModKind is the kind of a moderator or channel event.
type ModKind string

// Moderator and channel event kinds. The first four come from IRC
// (CLEARCHAT/CLEARMSG); unban and untimeout have no IRC message and come from
// EventSub channel.moderate (or the simulator, which shapes them like it).
const (
	ModTimeout   ModKind = "timeout"   // CLEARCHAT with ban-duration
	ModBan       ModKind = "ban"       // CLEARCHAT with a target, no duration
	ModClear     ModKind = "clear"     // CLEARCHAT without a target: whole chat cleared
	ModDelete    ModKind = "delete"    // CLEARMSG: one message deleted
	ModUnban     ModKind = "unban"     // EventSub channel.moderate action=unban
	ModUntimeout ModKind = "untimeout" // EventSub channel.moderate action=untimeout
	ModWarn      ModKind = "warn"      // EventSub channel.moderate action=warn
	ModRaid      ModKind = "raid"      // USERNOTICE msg-id=raid
	ModRoomState ModKind = "roomstate" // ROOMSTATE change
)

// ModKinds lists every ModKind.
var ModKinds = [...]ModKind{ModTimeout, ModBan, ModClear, ModDelete, ModUnban, ModUntimeout, ModWarn, ModRaid, ModRoomState}

// ModSources lists the values of Mod.Source: ingest ("irc"), EventSub
// ("eventsub") and the Twitch simulator ("sim").
var ModSources = [...]string{"irc", "eventsub", "sim"}

// ValidModKind reports whether k is one of the kinds above.
func ValidModKind(k ModKind) bool {
	switch k {
	case ModTimeout, ModBan, ModClear, ModDelete, ModUnban, ModUntimeout, ModWarn, ModRaid, ModRoomState:
		return true
	}
	return false
}

// Mod is one moderator or channel event on the mod stream.
type Mod struct {
	Kind           ModKind `json:"kind"`            // kind
	Source         string  `json:"source"`          // source: "irc", "eventsub" or "sim"
	RoomID         string  `json:"room_id"`         // room_id ("" when Twitch leaves it empty, as on CLEARMSG)
	Channel        string  `json:"channel"`         // channel login without '#'
	TargetUserID   string  `json:"target_user_id"`  // target_user_id: actioned user (timeout, ban, unban, untimeout, warn)
	TargetLogin    string  `json:"target_login"`    // target_login: actioned user's login (CLEARCHAT trailing, CLEARMSG login tag)
	TargetMsgID    string  `json:"target_msg_id"`   // target_msg_id: deleted message id (delete)
	DurationS      int64   `json:"duration_s"`      // duration_s: timeout length in seconds (timeout), else 0
	Text           string  `json:"text"`            // text: deleted message text (delete)
	ModeratorLogin string  `json:"moderator_login"` // moderator_login: who acted ("" on IRC, which does not say)
	RaidViewers    int     `json:"raid_viewers"`    // raid_viewers (raid)
	RaidFromLogin  string  `json:"raid_from_login"` // raid_from_login (raid)
	Settings       string  `json:"settings"`        // settings: ROOMSTATE tags as on the wire, e.g. "slow=5" (roomstate)
	TmiSentTsMs    int64   `json:"tmi_sent_ts"`     // tmi_sent_ts: Twitch server time, Unix milliseconds
	ReceivedAtUs   int64   `json:"received_at_us"`  // received_at_us: when ingest read it, Unix microseconds
}

// Stream field names of Mod that Chat does not already name.
const (
	FieldKind           = "kind"
	FieldSource         = "source"
	FieldTargetUserID   = "target_user_id"
	FieldTargetLogin    = "target_login"
	FieldTargetMsgID    = "target_msg_id"
	FieldDurationS      = "duration_s"
	FieldModeratorLogin = "moderator_login"
	FieldRaidViewers    = "raid_viewers"
	FieldRaidFromLogin  = "raid_from_login"
	FieldSettings       = "settings"
)

// Values appends the stream entry's field/value pairs for m to dst.
func (m *Mod) Values(dst []any) []any {
	return append(dst,
		FieldSchemaVersion, ModSchemaVersion,
		FieldKind, string(m.Kind),
		FieldSource, m.Source,
		FieldRoomID, m.RoomID,
		FieldChannel, m.Channel,
		FieldTargetUserID, m.TargetUserID,
		FieldTargetLogin, m.TargetLogin,
		FieldTargetMsgID, m.TargetMsgID,
		FieldDurationS, strconv.FormatInt(m.DurationS, 10),
		FieldText, m.Text,
		FieldModeratorLogin, m.ModeratorLogin,
		FieldRaidViewers, strconv.Itoa(m.RaidViewers),
		FieldRaidFromLogin, m.RaidFromLogin,
		FieldSettings, m.Settings,
		FieldTmiSentTs, strconv.FormatInt(m.TmiSentTsMs, 10),
		FieldReceivedAtUs, strconv.FormatInt(m.ReceivedAtUs, 10),
	)
}

// DecodeMod decodes a mod stream entry's values.
func DecodeMod(vals map[string]any) (Mod, error) {
	return decodeMod(decoder{vals: vals})
}

// DecodeModFields is DecodeMod of flat fields.
func DecodeModFields(f Fields) (Mod, error) { return decodeMod(decoder{flat: f}) }

func decodeMod(d decoder) (Mod, error) {
	if _, ok := d.version("mod", ModSchemaVersion); !ok {
		return Mod{}, d.err
	}
	m := Mod{
		Kind:           ModKind(d.str(FieldKind, true)),
		Source:         d.str(FieldSource, false),
		RoomID:         d.str(FieldRoomID, false),
		Channel:        d.str(FieldChannel, true),
		TargetUserID:   d.str(FieldTargetUserID, false),
		TargetLogin:    d.str(FieldTargetLogin, false),
		TargetMsgID:    d.str(FieldTargetMsgID, false),
		DurationS:      d.int64(FieldDurationS, false),
		Text:           d.str(FieldText, false),
		ModeratorLogin: d.str(FieldModeratorLogin, false),
		RaidViewers:    int(d.int64(FieldRaidViewers, false)),
		RaidFromLogin:  d.str(FieldRaidFromLogin, false),
		Settings:       d.str(FieldSettings, false),
		TmiSentTsMs:    d.int64(FieldTmiSentTs, false),
		ReceivedAtUs:   d.int64(FieldReceivedAtUs, false),
	}
	if d.err != nil {
		return Mod{}, d.err
	}
	if !ValidModKind(m.Kind) {
		return Mod{}, &DecodeError{Field: FieldKind, Err: fmt.Errorf("unknown kind %q", m.Kind)}
	}
	return m, nil
}
