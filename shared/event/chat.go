package event

import (
	"fmt"
	"strconv"
)

// ChatSchemaVersion is the version of the chat event layout below. Bump it
// (and schemas/) on any change of fields or meaning.
const ChatSchemaVersion = "1"

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

// Stream field names of Chat.
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
)

func b01(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// ChatFields is the number of field/value pairs of a chat entry.
const ChatFields = 24

// chatFieldNames are the stream fields of a chat entry, in order (boxed
// once: boxing a string that is not a constant allocates).
var chatFieldNames = [ChatFields]any{
	FieldSchemaVersion, FieldMsgID, FieldRoomID, FieldChannel, FieldUserID, FieldLogin, FieldDisplayName, FieldText,
	FieldIsAction, FieldTmiSentTs, FieldReceivedAtUs, FieldBroadcaster, FieldModerator, FieldVIP, FieldSubscriber,
	FieldSubMonths, FieldFirstMsg, FieldReturning, FieldReplyMsgID, FieldReplyLogin, FieldReplyDisplay,
	FieldSourceRoomID, FieldEmoteCount, FieldEmoteChars,
}

// ChatValues are the encoded stream values of a chat message, in the order
// of its stream fields.
type ChatValues [ChatFields]string

// Encode writes c's stream values into v. The numbers are formatted into
// one string: a chat message costs one allocation besides v.
func (c *Chat) Encode(v *ChatValues) {
	var arr [96]byte
	b := arr[:0]
	var ends [5]int
	b = strconv.AppendInt(b, c.TmiSentTsMs, 10)
	ends[0] = len(b)
	b = strconv.AppendInt(b, c.ReceivedAtUs, 10)
	ends[1] = len(b)
	b = strconv.AppendInt(b, int64(c.SubMonths), 10)
	ends[2] = len(b)
	b = strconv.AppendInt(b, int64(c.EmoteCount), 10)
	ends[3] = len(b)
	b = strconv.AppendInt(b, int64(c.EmoteChars), 10)
	ends[4] = len(b)
	nums := string(b)
	*v = ChatValues{
		ChatSchemaVersion, c.MsgID, c.RoomID, c.Channel, c.UserID, c.Login, c.DisplayName, c.Text,
		b01(c.IsAction), nums[:ends[0]], nums[ends[0]:ends[1]], b01(c.Broadcaster), b01(c.Moderator), b01(c.VIP),
		b01(c.Subscriber), nums[ends[1]:ends[2]], b01(c.FirstMsg), b01(c.ReturningChatter),
		c.ReplyParentMsgID, c.ReplyParentLogin, c.ReplyParentDisplayName, c.SourceRoomID,
		nums[ends[2]:ends[3]], nums[ends[3]:ends[4]],
	}
}

// AppendArgs appends v's field/value pairs to dst as command arguments for
// go-redis without copying or boxing the values: each value is a *string
// into v, so v must not change until the command has been written.
func (v *ChatValues) AppendArgs(dst []any) []any {
	for i := range v {
		dst = append(dst, chatFieldNames[i], &v[i])
	}
	return dst
}

// Values appends the stream entry's field/value pairs for c to dst (the form
// go-redis XAddArgs.Values takes).
func (c *Chat) Values(dst []any) []any {
	var v ChatValues
	c.Encode(&v)
	for i := range v {
		dst = append(dst, chatFieldNames[i], v[i])
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

// DecodeChat decodes a chat stream entry's values. Unknown fields are
// ignored (forward compatible within a schema version); a missing required
// field, a malformed number or another schema version is a *DecodeError.
func DecodeChat(vals map[string]any) (Chat, error) {
	return decodeChat(decoder{vals: vals})
}

// DecodeChatFields is DecodeChat of flat fields.
func DecodeChatFields(f Fields) (Chat, error) { return decodeChat(decoder{flat: f}) }

func decodeChat(d decoder) (Chat, error) {
	if v := d.str(FieldSchemaVersion, true); d.err == nil && v != ChatSchemaVersion {
		return Chat{}, &DecodeError{Field: FieldSchemaVersion, Err: fmt.Errorf("unsupported chat schema version %q (want %q)", v, ChatSchemaVersion)}
	}
	c := Chat{
		MsgID:                  d.str(FieldMsgID, true),
		RoomID:                 d.str(FieldRoomID, true),
		Channel:                d.str(FieldChannel, true),
		UserID:                 d.str(FieldUserID, true),
		Login:                  d.str(FieldLogin, false),
		DisplayName:            d.str(FieldDisplayName, false),
		Text:                   d.str(FieldText, true),
		IsAction:               d.bool(FieldIsAction),
		TmiSentTsMs:            d.int64(FieldTmiSentTs, false),
		ReceivedAtUs:           d.int64(FieldReceivedAtUs, false),
		Broadcaster:            d.bool(FieldBroadcaster),
		Moderator:              d.bool(FieldModerator),
		VIP:                    d.bool(FieldVIP),
		Subscriber:             d.bool(FieldSubscriber),
		SubMonths:              int(d.int64(FieldSubMonths, false)),
		FirstMsg:               d.bool(FieldFirstMsg),
		ReturningChatter:       d.bool(FieldReturning),
		ReplyParentMsgID:       d.str(FieldReplyMsgID, false),
		ReplyParentLogin:       d.str(FieldReplyLogin, false),
		ReplyParentDisplayName: d.str(FieldReplyDisplay, false),
		SourceRoomID:           d.str(FieldSourceRoomID, false),
		EmoteCount:             int(d.int64(FieldEmoteCount, false)),
		EmoteChars:             int(d.int64(FieldEmoteChars, false)),
	}
	if d.err != nil {
		return Chat{}, d.err
	}
	if c.MsgID == "" {
		return Chat{}, &DecodeError{Field: FieldMsgID, Err: fmt.Errorf("empty")}
	}
	return c, nil
}
