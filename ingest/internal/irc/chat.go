package irc

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/bits"
)

// Chat holds the moderation-relevant fields of a PRIVMSG. Byte fields alias
// the parsed line; tag values are raw (still escaped, see Unescape).
type Chat struct {
	RoomID, UserID, MsgID []byte
	Login                 []byte // sender nick from the prefix
	DisplayName           []byte // raw-escaped ("Riot\sGames")
	Channel               []byte // without '#'
	Text                  []byte // body with a CTCP ACTION wrapper stripped
	IsAction              bool   // the body was "\x01ACTION ...\x01" (/me)
	TmiSentTs             int64  // ms since the epoch; 0 if absent or not a number

	// Roles and signals. Each is true when either the dedicated tag is "1" or
	// the matching badge is present; Broadcaster is also true when
	// user-id == room-id. vip=0 is not VIP.
	Broadcaster, Moderator, VIP, Subscriber bool
	FirstMsg, ReturningChatter              bool
	SubMonths                               int // badge-info subscriber/N or founder/N; 0 if none

	ReplyParentMsgID, ReplyParentLogin, ReplyParentDisplayName []byte // raw-escaped; nil unless a reply
	SourceRoomID                                               []byte // shared chat: the room the message came from

	EmoteCount int    // emote ranges that fit inside Text
	EmoteChars int    // code points covered by those ranges
	Emotes     []byte // raw emotes tag
	Bits       int    // cheer amount; 0 if none
}

// ParseChat extracts a Chat from a parsed PRIVMSG with one pass over its tags.
// It overwrites all of c and does not allocate. It returns ErrCommand for
// other commands and an ErrMalformed error when the channel or text is
// missing.
func ParseChat(m *Message, c *Chat) error {
	*c = Chat{}
	if m.Command != CmdPrivmsg {
		return ErrCommand
	}
	if m.Channel == nil {
		return errNoChannel
	}
	text, ok := chatText(m)
	if !ok {
		return errNoText
	}
	c.Text, c.IsAction = stripAction(text)
	c.Login = m.Nick
	c.Channel = m.Channel

	// This loop is most of the cost of a PRIVMSG. It is written out so that
	// the SWAR ';' search inlines, and it dispatches on the first byte of the
	// tag and then matches "key=" as a constant prefix, which is cheaper than
	// searching for '=' and switching on the whole key.
	for tags := m.Tags; len(tags) > 0; {
		tag := tags
		tags = nil
		if e := indexSemi(tag); e >= 0 {
			tag, tags = tag[:e], tag[e+1:]
		}
		if len(tag) == 0 {
			continue
		}
		switch tag[0] {
		case 'b':
			if v, ok := tagValue(tag, "badges"); ok {
				c.applyBadges(v)
			} else if v, ok := tagValue(tag, "badge-info"); ok {
				c.SubMonths = subMonths(v)
			} else if v, ok := tagValue(tag, "bits"); ok {
				c.Bits = int(parseUint(v))
			}
		case 'd':
			if v, ok := tagValue(tag, "display-name"); ok {
				c.DisplayName = v
			}
		case 'e':
			if v, ok := tagValue(tag, "emotes"); ok {
				c.Emotes = v
			}
		case 'f':
			if v, ok := tagValue(tag, "first-msg"); ok {
				c.FirstMsg = isOne(v)
			}
		case 'i':
			if v, ok := tagValue(tag, "id"); ok {
				c.MsgID = v
			}
		case 'm':
			if v, ok := tagValue(tag, "mod"); ok {
				c.Moderator = c.Moderator || isOne(v)
			}
		case 'r':
			if v, ok := tagValue(tag, "room-id"); ok {
				c.RoomID = v
			} else if v, ok := tagValue(tag, "returning-chatter"); ok {
				c.ReturningChatter = isOne(v)
			} else if v, ok := tagValue(tag, "reply-parent-msg-id"); ok {
				c.ReplyParentMsgID = v
			} else if v, ok := tagValue(tag, "reply-parent-user-login"); ok {
				c.ReplyParentLogin = v
			} else if v, ok := tagValue(tag, "reply-parent-display-name"); ok {
				c.ReplyParentDisplayName = v
			}
		case 's':
			if v, ok := tagValue(tag, "subscriber"); ok {
				c.Subscriber = c.Subscriber || isOne(v)
			} else if v, ok := tagValue(tag, "source-room-id"); ok {
				c.SourceRoomID = v
			}
		case 't':
			if v, ok := tagValue(tag, "tmi-sent-ts"); ok {
				c.TmiSentTs, _ = parseInt(v)
			}
		case 'u':
			if v, ok := tagValue(tag, "user-id"); ok {
				c.UserID = v
			}
		case 'v':
			if v, ok := tagValue(tag, "vip"); ok {
				c.VIP = c.VIP || isOne(v)
			}
		}
	}
	if len(c.UserID) > 0 && string(c.UserID) == string(c.RoomID) {
		c.Broadcaster = true
	}
	if len(c.Emotes) > 0 {
		c.EmoteCount, c.EmoteChars = countEmotes(c.Emotes, CodePoints(c.Text))
	}
	return nil
}

// chatText returns the raw text of a PRIVMSG: the trailing param, or for
// "PRIVMSG #chan word" (no ':') the middle params after the channel.
func chatText(m *Message) ([]byte, bool) {
	if m.HasTrailing {
		return m.Trailing, true
	}
	sp := bytes.IndexByte(m.Params, ' ')
	if sp < 0 {
		return nil, false
	}
	text := m.Params[skipSpaces(m.Params, sp):]
	return text, len(text) > 0
}

// stripAction removes a CTCP ACTION wrapper: "\x01ACTION text\x01" -> text,
// "\x01ACTION\x01" -> empty. A missing closing \x01 is tolerated.
func stripAction(t []byte) ([]byte, bool) {
	const prefix = "\x01ACTION"
	if len(t) < len(prefix) || string(t[:len(prefix)]) != prefix {
		return t, false
	}
	rest := t[len(prefix):]
	switch {
	case len(rest) == 0:
	case rest[0] == ' ':
		rest = rest[1:]
	case rest[0] != '\x01':
		return t, false // "\x01ACTIONS..." is not an action
	}
	if n := len(rest); n > 0 && rest[n-1] == '\x01' {
		rest = rest[:n-1]
	}
	return rest, true
}

// tagValue reports whether tag (one tag, no ';') has the given key and
// returns its value: "key=value" -> value, "key" -> empty.
func tagValue(tag []byte, key string) ([]byte, bool) {
	if len(tag) < len(key) || string(tag[:len(key)]) != key {
		return nil, false
	}
	if len(tag) == len(key) {
		return tag[len(key):], true
	}
	if tag[len(key)] == '=' {
		return tag[len(key)+1:], true
	}
	return nil, false
}

// applyBadges sets the role flags from a badges value ("set/version,...").
func (c *Chat) applyBadges(v []byte) {
	for len(v) > 0 {
		switch v[0] {
		case 'b':
			c.Broadcaster = c.Broadcaster || hasPrefix(v, "broadcaster/")
		case 'm':
			c.Moderator = c.Moderator || hasPrefix(v, "moderator/")
		case 'v':
			c.VIP = c.VIP || hasPrefix(v, "vip/")
		case 's':
			c.Subscriber = c.Subscriber || hasPrefix(v, "subscriber/")
		case 'f':
			c.Subscriber = c.Subscriber || hasPrefix(v, "founder/")
		}
		i := indexComma(v)
		if i < 0 {
			return
		}
		v = v[i+1:]
	}
}

// subMonths returns N from a badge-info value containing subscriber/N or
// founder/N, else 0.
func subMonths(v []byte) int {
	for len(v) > 0 {
		var n []byte
		switch {
		case hasPrefix(v, "subscriber/"):
			n = v[len("subscriber/"):]
		case hasPrefix(v, "founder/"):
			n = v[len("founder/"):]
		}
		if n != nil {
			months, digits := leadingUint(n)
			if digits == 0 || (digits < len(n) && n[digits] != ',') {
				return 0 // "subscriber/" or "subscriber/12x"
			}
			return months
		}
		i := indexComma(v)
		if i < 0 {
			return 0
		}
		v = v[i+1:]
	}
	return 0
}

func hasPrefix(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && string(b[:len(prefix)]) == prefix
}

// countEmotes counts the ranges of an emotes tag
// ("id:start-end,start-end/id:start-end") that fit inside a text of
// textLen code points, and the code points they cover. Ids may contain '_'
// and '/', so an id runs up to the next ':'. Parsing stops at the first
// malformed range.
func countEmotes(tag []byte, textLen int) (count, chars int) {
	i := 0
	for i < len(tag) {
		for i < len(tag) && tag[i] != ':' {
			i++
		}
		i++ // past ':'
		if i >= len(tag) {
			return count, chars
		}
		for {
			start, n := leadingUint(tag[i:])
			if n == 0 || i+n >= len(tag) || tag[i+n] != '-' {
				return count, chars
			}
			i += n + 1
			end, n := leadingUint(tag[i:])
			if n == 0 {
				return count, chars
			}
			i += n
			if start <= end && end < textLen {
				count++
				chars += end - start + 1
			}
			if i == len(tag) {
				return count, chars
			}
			if tag[i] == ',' {
				i++
				continue
			}
			if tag[i] == '/' {
				i++
				break
			}
			return count, chars
		}
	}
	return count, chars
}

// maxUint caps parsed numbers so that they cannot overflow an int.
const maxUint = 1 << 40

// leadingUint parses the decimal digits at the start of b and returns the
// value (saturated at maxUint) and the number of digits consumed.
func leadingUint(b []byte) (v, n int) {
	for n < len(b) && isDigit(b[n]) {
		if v < maxUint {
			v = v*10 + int(b[n]-'0')
		}
		n++
	}
	return min(v, maxUint), n
}

// parseUint parses b as an unsigned decimal number, returning 0 unless all of
// b is digits.
func parseUint(b []byte) int64 {
	v, n := leadingUint(b)
	if n == 0 || n != len(b) {
		return 0
	}
	return int64(v)
}

// parseInt parses b as a signed decimal int64: an optional '-' and at least
// one digit, without overflow. It reports false, with 0, for anything else.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) == 0 {
		return 0, false
	}
	var v uint64 // magnitude, at most 1<<63 (for math.MinInt64)
	for _, d := range b {
		if !isDigit(d) || v > (1<<63)/10 {
			return 0, false
		}
		if v = v*10 + uint64(d-'0'); v > 1<<63 {
			return 0, false
		}
	}
	if neg {
		return -int64(v), true // -int64(1<<63) wraps to math.MinInt64, as wanted
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	return int64(v), true
}

func isOne(v []byte) bool { return len(v) == 1 && v[0] == '1' }

// CodePoints counts the code points of UTF-8 text without decoding it: it
// counts the bytes that are not continuation bytes (10xxxxxx), eight at a
// time. Invalid UTF-8 is counted the same way, never rejected.
func CodePoints(text []byte) int {
	n := len(text)
	for len(text) >= 8 {
		x := binary.LittleEndian.Uint64(text)
		// A continuation byte has bit 7 set and bit 6 clear.
		n -= bits.OnesCount64(x &^ (x << 1) & 0x8080808080808080)
		text = text[8:]
	}
	for _, b := range text {
		if b&0xC0 == 0x80 {
			n--
		}
	}
	return n
}
