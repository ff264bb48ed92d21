package event

import (
	"fmt"
	"strconv"
)

// ChatSchemaVersion is the version of the chat entry layout that ingest
// writes. Bump it (and schemas/) on any change of fields or meaning.
//
// Version 2 (schemas/chat.json) carries the numbers and flags in three
// grouped fields (times, trust, text_meta: comma-separated values) and
// leaves out the reply and shared-chat fields when they are empty: a
// plain message is 11 stream fields instead of version 1's 24. Redis pays
// per field on every XADD and every read, so a chat entry's XADD and
// XREADGROUP cost about a third less Redis CPU. DecodeChat reads both
// versions, so entries written by an older ingest are still decided during
// a rolling upgrade; a decide from before version 2 decides version 2
// entries as bad_input, so upgrade decide before ingest.
const ChatSchemaVersion = "2"

// ChatSchemaVersion1 is the earlier layout (one stream field per value,
// every field present), still decoded.
const ChatSchemaVersion1 = "1"

// Chat is one chat message (an IRC PRIVMSG) as ingest publishes it on the chat
// stream. Field comments give the stream field name; times carry their unit.
type Chat struct {
	MsgID        string `json:"msg_id"`         // msg_id: Twitch message id (the `id` tag), a UUID
	RoomID       string `json:"room_id"`        // room_id: channel's user id
	Channel      string `json:"channel"`        // channel: channel login, without '#'
	UserID       string `json:"user_id"`        // user_id: sender's user id
	Login        string `json:"login"`          // login: sender's login
	DisplayName  string `json:"display_name"`   // display_name: unescaped display name
	Text         string `json:"text"`           // text: message bytes as sent (raw, not UTF-8 validated), CTCP ACTION wrapper removed
	IsAction     bool   `json:"is_action"`      // is_action: the message was a /me (CTCP ACTION)
	TmiSentTsMs  int64  `json:"tmi_sent_ts"`    // tmi_sent_ts: Twitch server time, Unix milliseconds
	ReceivedAtUs int64  `json:"received_at_us"` // received_at_us: when ingest read the line, Unix microseconds

	Broadcaster      bool `json:"broadcaster"`       // broadcaster
	Moderator        bool `json:"moderator"`         // moderator
	VIP              bool `json:"vip"`               // vip
	Subscriber       bool `json:"subscriber"`        // subscriber
	SubMonths        int  `json:"sub_months"`        // sub_months: subscribed months (badge-info), 0 if none
	FirstMsg         bool `json:"first_msg"`         // first_msg: the user's first message in this channel
	ReturningChatter bool `json:"returning_chatter"` // returning_chatter

	ReplyParentMsgID       string `json:"reply_parent_msg_id"`       // reply_parent_msg_id: "" when not a reply
	ReplyParentLogin       string `json:"reply_parent_login"`        // reply_parent_login
	ReplyParentDisplayName string `json:"reply_parent_display_name"` // reply_parent_display_name (unescaped)
	SourceRoomID           string `json:"source_room_id"`            // source_room_id: shared chat origin room, "" if none
	EmoteCount             int    `json:"emote_count"`               // emote_count: in-bounds emote ranges
	EmoteChars             int    `json:"emote_chars"`               // emote_chars: code points covered by emotes
}

// Stream field names of Chat. Version 1 has one field per value; version 2
// groups the numbers and flags into FieldTimes, FieldTrust and
// FieldTextMeta (see ChatTimesNames, ChatTrustNames, ChatTextMetaNames) and
// writes the four optional fields (reply_parent_*, source_room_id) only when
// they are not empty.
const (
	FieldSchemaVersion = "schema_version"
	FieldMsgID         = "msg_id"
	FieldRoomID        = "room_id"
	FieldChannel       = "channel"
	FieldUserID        = "user_id"
	FieldLogin         = "login"
	FieldDisplayName   = "display_name"
	FieldText          = "text"
	FieldIsAction      = "is_action"
	FieldTmiSentTs     = "tmi_sent_ts"
	FieldReceivedAtUs  = "received_at_us"
	FieldBroadcaster   = "broadcaster"
	FieldModerator     = "moderator"
	FieldVIP           = "vip"
	FieldSubscriber    = "subscriber"
	FieldSubMonths     = "sub_months"
	FieldFirstMsg      = "first_msg"
	FieldReturning     = "returning_chatter"
	FieldReplyMsgID    = "reply_parent_msg_id"
	FieldReplyLogin    = "reply_parent_login"
	FieldReplyDisplay  = "reply_parent_display_name"
	FieldSourceRoomID  = "source_room_id"
	FieldEmoteCount    = "emote_count"
	FieldEmoteChars    = "emote_chars"
	// FieldTextMeta is chat version 2's group of ChatTextMetaNames.
	FieldTextMeta = "text_meta"
)

// The values of chat version 2's grouped fields, in order: FieldTimes
// (integers), FieldTrust (0/1 flags and sub_months) and FieldTextMeta
// (is_action 0/1, then the emote counts). They are prefixes of the decision
// entry's groups of the same names where those exist.
var (
	ChatTimesNames    = [...]string{FieldTmiSentTs, FieldReceivedAtUs}
	ChatTrustNames    = [...]string{FieldBroadcaster, FieldModerator, FieldVIP, FieldSubscriber, FieldSubMonths, FieldFirstMsg, FieldReturning}
	ChatTextMetaNames = [...]string{FieldIsAction, FieldEmoteCount, FieldEmoteChars}
)

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ChatFields is the number of field/value pairs of a version 2 chat entry
// whose optional fields are all set; a plain message has chatRequired.
const ChatFields = 15

// chatRequired is the number of fields every version 2 entry has; the
// rest (from chatRequired on) are written only when not empty.
const chatRequired = 11

// chatFieldNames are the stream fields of a version 2 chat entry, in order
// (boxed once: boxing a string that is not a constant allocates).
var chatFieldNames = [ChatFields]any{
	FieldSchemaVersion, FieldMsgID, FieldRoomID, FieldChannel, FieldUserID, FieldLogin, FieldDisplayName, FieldText,
	FieldTimes, FieldTrust, FieldTextMeta,
	FieldReplyMsgID, FieldReplyLogin, FieldReplyDisplay, FieldSourceRoomID,
}

// ChatValues are the encoded stream values of a chat message, in the order
// of chatFieldNames ("" for an optional field that is not written).
type ChatValues [ChatFields]string

// Encode writes c's stream values into v. The grouped numbers are
// formatted into one string: a chat message costs one allocation besides v.
func (c *Chat) Encode(v *ChatValues) {
	var arr [112]byte
	b := arr[:0]
	var ends [2]int
	b = strconv.AppendInt(b, c.TmiSentTsMs, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, c.ReceivedAtUs, 10)
	ends[0] = len(b)
	b = appendFlags(b, c.Broadcaster, c.Moderator, c.VIP, c.Subscriber)
	b = strconv.AppendInt(b, int64(c.SubMonths), 10)
	b = appendFlags(append(b, ','), c.FirstMsg)
	b = append(b, b01(c.ReturningChatter)...)
	ends[1] = len(b)
	b = appendFlags(b, c.IsAction)
	b = strconv.AppendInt(b, int64(c.EmoteCount), 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(c.EmoteChars), 10)
	nums := string(b)
	*v = ChatValues{
		ChatSchemaVersion, c.MsgID, c.RoomID, c.Channel, c.UserID, c.Login, c.DisplayName, c.Text,
		nums[:ends[0]], nums[ends[0]:ends[1]], nums[ends[1]:],
		c.ReplyParentMsgID, c.ReplyParentLogin, c.ReplyParentDisplayName, c.SourceRoomID,
	}
}

// appendFlags appends each flag as "0," or "1,".
func appendFlags(b []byte, flags ...bool) []byte {
	for _, f := range flags {
		b = append(b, b01(f)[0], ',')
	}
	return b
}

// AppendArgs appends v's field/value pairs to dst as command arguments for
// go-redis without copying or boxing the values: each value is a *string
// into v, so v must not change until the command has been written. Empty
// optional fields are left out.
func (v *ChatValues) AppendArgs(dst []any) []any {
	for i := range v {
		if i < chatRequired || v[i] != "" {
			dst = append(dst, chatFieldNames[i], &v[i])
		}
	}
	return dst
}

// Values appends the stream entry's field/value pairs for c to dst (the form
// go-redis XAddArgs.Values takes). Empty optional fields are left out.
func (c *Chat) Values(dst []any) []any {
	var v ChatValues
	c.Encode(&v)
	for i := range v {
		if i < chatRequired || v[i] != "" {
			dst = append(dst, chatFieldNames[i], v[i])
		}
	}
	return dst
}

// DecodeError reports a stream entry that cannot be decoded. It is never
// retryable: the consumer dead-letters the entry with this reason.
type DecodeError struct {
	Field string
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("event: decode field %q: %v", e.Field, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Retryable reports false: a malformed entry will not get better.
func (e *DecodeError) Retryable() bool { return false }

// decoder reads the fields of one stream entry, given as a map (go-redis)
// or as flat name/value pairs (Fields).
type decoder struct {
	vals map[string]any
	flat Fields
	next int // flat: where the next lookup starts (fields come in wire order)
	err  error
}

// Fields are a stream entry's field/value pairs, flat: name, value, name,
// value... (what a stream reader that builds no map returns).
type Fields []string

// get finds field in flat, starting where the previous lookup ended: the
// decoders ask for fields roughly in the order writers add them.
func (d *decoder) get(field string) (string, bool) {
	n := len(d.flat) &^ 1
	for k := 0; k < n; k += 2 {
		i := d.next + k
		if i >= n {
			i -= n
		}
		if d.flat[i] == field {
			d.next = i + 2
			if d.next >= n {
				d.next = 0
			}
			return d.flat[i+1], true
		}
	}
	return "", false
}

func (d *decoder) str(field string, required bool) string {
	if d.vals == nil {
		s, ok := d.get(field)
		if !ok && required && d.err == nil {
			d.err = &DecodeError{Field: field, Err: fmt.Errorf("missing")}
		}
		return s
	}
	v, ok := d.vals[field]
	if !ok {
		if required && d.err == nil {
			d.err = &DecodeError{Field: field, Err: fmt.Errorf("missing")}
		}
		return ""
	}
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	case *string: // values built by AppendArgs, before they reach Redis
		if s != nil {
			return *s
		}
	}
	if d.err == nil {
		d.err = &DecodeError{Field: field, Err: fmt.Errorf("unexpected type %T", v)}
	}
	return ""
}

func (d *decoder) int64(field string, required bool) int64 {
	s := d.str(field, required)
	if s == "" {
		return 0
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil && d.err == nil {
		d.err = &DecodeError{Field: field, Err: err}
	}
	return n
}

func (d *decoder) bool(field string) bool {
	switch s := d.str(field, false); s {
	case "", "0":
		return false
	case "1":
		return true
	default:
		if d.err == nil {
			d.err = &DecodeError{Field: field, Err: fmt.Errorf("want 0 or 1, got %q", s)}
		}
		return false
	}
}

// DecodeChat decodes a chat stream entry's values, of schema version 2 or
// 1. Unknown fields are ignored (forward compatible within a schema
// version); absent optional values are "" or 0; a missing required field
// (schema_version, msg_id, room_id, channel, user_id, text), a malformed
// number, flag or group, or another schema version is a *DecodeError.
func DecodeChat(vals map[string]any) (Chat, error) {
	return decodeChat(decoder{vals: vals})
}

// DecodeChatFields is DecodeChat of flat fields.
func DecodeChatFields(f Fields) (Chat, error) { return decodeChat(decoder{flat: f}) }

func decodeChat(d decoder) (Chat, error) {
	v, ok := d.version("chat", ChatSchemaVersion, ChatSchemaVersion1)
	if !ok {
		return Chat{}, d.err
	}
	c := Chat{
		MsgID:       d.str(FieldMsgID, true),
		RoomID:      d.str(FieldRoomID, true),
		Channel:     d.str(FieldChannel, true),
		UserID:      d.str(FieldUserID, true),
		Login:       d.str(FieldLogin, false),
		DisplayName: d.str(FieldDisplayName, false),
		Text:        d.str(FieldText, true),
	}
	if v == ChatSchemaVersion1 {
		c.IsAction = d.bool(FieldIsAction)
		c.TmiSentTsMs = d.int64(FieldTmiSentTs, false)
		c.ReceivedAtUs = d.int64(FieldReceivedAtUs, false)
		c.Broadcaster = d.bool(FieldBroadcaster)
		c.Moderator = d.bool(FieldModerator)
		c.VIP = d.bool(FieldVIP)
		c.Subscriber = d.bool(FieldSubscriber)
		c.SubMonths = int(d.int64(FieldSubMonths, false))
		c.FirstMsg = d.bool(FieldFirstMsg)
		c.ReturningChatter = d.bool(FieldReturning)
		c.EmoteCount = int(d.int64(FieldEmoteCount, false))
		c.EmoteChars = int(d.int64(FieldEmoteChars, false))
	} else {
		var times [len(ChatTimesNames)]int64
		d.intsInto(FieldTimes, times[:])
		c.TmiSentTsMs, c.ReceivedAtUs = times[0], times[1]
		var trust [len(ChatTrustNames)]int64
		d.intsInto(FieldTrust, trust[:])
		d.flags(FieldTrust, ChatTrustNames[:], trust[:], &c.Broadcaster, &c.Moderator, &c.VIP, &c.Subscriber, nil, &c.FirstMsg, &c.ReturningChatter)
		c.SubMonths = int(trust[4])
		var meta [len(ChatTextMetaNames)]int64
		d.intsInto(FieldTextMeta, meta[:])
		d.flags(FieldTextMeta, ChatTextMetaNames[:], meta[:], &c.IsAction)
		c.EmoteCount, c.EmoteChars = int(meta[1]), int(meta[2])
	}
	c.ReplyParentMsgID = d.str(FieldReplyMsgID, false)
	c.ReplyParentLogin = d.str(FieldReplyLogin, false)
	c.ReplyParentDisplayName = d.str(FieldReplyDisplay, false)
	c.SourceRoomID = d.str(FieldSourceRoomID, false)
	if d.err != nil {
		return Chat{}, d.err
	}
	if c.MsgID == "" {
		return Chat{}, &DecodeError{Field: FieldMsgID, Err: fmt.Errorf("empty")}
	}
	return c, nil
}

// flags sets *dst[j] from vals[j] of a grouped field, which must be 0 or 1;
// a nil dst[j] is not a flag and is skipped.
func (d *decoder) flags(field string, names []string, vals []int64, dst ...*bool) {
	for j, p := range dst {
		switch {
		case p == nil:
		case vals[j] == 0 || vals[j] == 1:
			*p = vals[j] == 1
		default:
			d.fail(field, fmt.Errorf("%s: want 0 or 1, got %d", names[j], vals[j]))
		}
	}
}
