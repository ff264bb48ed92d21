package irc

import (
	"bytes"
	"errors"
	"os"
	"strconv"
	"testing"
)

// FuzzParse checks the parser's invariants on arbitrary input: no panic,
// every returned slice aliases the input, errors are the package sentinels,
// CommandOf agrees with Parse, the typed layers stay in bounds, and Unescape
// inverts IRCv3 escaping.
func FuzzParse(f *testing.F) {
	data, err := os.ReadFile("testdata/real_lines.txt")
	if err != nil {
		f.Fatalf("read real lines: %v", err)
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		f.Add(line)
	}
	for _, s := range []string{"", "@", "@a=b", ":", "PRIVMSG", "@ PRIVMSG", `@a=\ :p PRIVMSG #c :x`, "\xff\xfe", "@emotes=1:0-0/2:9-99 :a PRIVMSG #c :\x01ACTION\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		orig := bytes.Clone(line)
		var m Message
		err := Parse(line, 0, &m)
		if !bytes.Equal(line, orig) {
			t.Fatalf("Parse modified its input")
		}
		if err != nil {
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Parse error %v is not a package sentinel", err)
			}
			return
		}
		fields := map[string][]byte{"Tags": m.Tags, "Prefix": m.Prefix, "Nick": m.Nick, "Channel": m.Channel, "Params": m.Params, "Trailing": m.Trailing, "RawCommand": m.RawCommand}
		for name, s := range fields {
			if !within(line, s) {
				t.Fatalf("%s = %q does not alias the input", name, s)
			}
		}
		if len(m.RawCommand) == 0 {
			t.Fatalf("Parse succeeded without a command")
		}
		if got := CommandOf(line); got != m.Command {
			t.Fatalf("CommandOf = %v, Parse.Command = %v", got, m.Command)
		}
		if !m.HasTrailing && m.Trailing != nil {
			t.Fatalf("Trailing %q without HasTrailing", m.Trailing)
		}

		var c Chat
		if err := ParseChat(&m, &c); err == nil {
			for name, s := range map[string][]byte{"Text": c.Text, "RoomID": c.RoomID, "UserID": c.UserID, "MsgID": c.MsgID, "Emotes": c.Emotes, "DisplayName": c.DisplayName, "SourceRoomID": c.SourceRoomID} {
				if !within(line, s) {
					t.Fatalf("Chat.%s does not alias the input", name)
				}
			}
			cp := CodePoints(c.Text)
			if c.EmoteCount < 0 || c.EmoteChars < c.EmoteCount || c.EmoteChars > c.EmoteCount*cp {
				t.Fatalf("EmoteCount %d, EmoteChars %d out of range for %d code points", c.EmoteCount, c.EmoteChars, cp)
			}
			if want := referenceChat(&m); chatFields(&c) != want {
				t.Fatalf("ParseChat =\n %+v\nreference =\n %+v", chatFields(&c), want)
			}
		} else if !errors.Is(err, ErrCommand) && !errors.Is(err, ErrMalformed) {
			t.Fatalf("ParseChat error %v is not a package sentinel", err)
		}
		var d Mod
		if err := ParseMod(&m, &d); err == nil {
			for name, s := range map[string][]byte{"Text": d.Text, "RoomID": d.RoomID, "TargetLogin": d.TargetLogin, "Login": d.Login} {
				if !within(line, s) {
					t.Fatalf("Mod.%s does not alias the input", name)
				}
			}
		}

		// Tag agrees with a plain scan (first occurrence of a key wins), and
		// Unescape on every value: never longer than the input, identity
		// without a backslash, and it inverts escape.
		seen := map[string]bool{}
		for tags := m.Tags; len(tags) > 0; {
			var key, val []byte
			key, val, tags = nextTag(tags)
			if !seen[string(key)] {
				seen[string(key)] = true
				if raw, ok := m.Tag(string(key)); !ok || !bytes.Equal(raw, val) {
					t.Fatalf("Tag(%q) = %q, %v; scan saw %q", key, raw, ok, val)
				}
			}
			u := Unescape(nil, val)
			if len(u) > len(val) {
				t.Fatalf("Unescape(%q) = %q grew", val, u)
			}
			if bytes.IndexByte(val, '\\') < 0 && !bytes.Equal(u, val) {
				t.Fatalf("Unescape(%q) = %q changed a value without backslash", val, u)
			}
			if back := Unescape(nil, []byte(escape(string(u)))); !bytes.Equal(back, u) {
				t.Fatalf("Unescape(escape(%q)) = %q", u, back)
			}
		}
	})
}

// chatFieldsView is every field of a Chat, with byte fields as strings.
type chatFieldsView struct {
	chatView
	RoomID, UserID, MsgID, Login, DisplayName, Channel, ReplyParentDisplayName, Emotes string
	TmiSentTs                                                                          int64
}

func chatFields(c *Chat) chatFieldsView {
	return chatFieldsView{chatViewOf(c), str(c.RoomID), str(c.UserID), str(c.MsgID), str(c.Login), str(c.DisplayName), str(c.Channel), str(c.ReplyParentDisplayName), str(c.Emotes), c.TmiSentTs}
}

// referenceChat is a deliberately plain version of ParseChat's tag handling
// (nextTag plus a switch on the whole key, badges split with bytes.Split) to
// check the optimised dispatch against.
func referenceChat(m *Message) chatFieldsView {
	c := Chat{Login: m.Nick, Channel: m.Channel}
	text := m.Trailing
	if !m.HasTrailing {
		_, text, _ = bytes.Cut(m.Params, []byte(" "))
		text = bytes.TrimLeft(text, " ")
	}
	c.Text, c.IsAction = stripAction(text)
	for tags := m.Tags; len(tags) > 0; {
		var key, val []byte
		key, val, tags = nextTag(tags)
		switch string(key) {
		case "badge-info":
			c.SubMonths = 0
			for _, b := range bytes.Split(val, []byte(",")) {
				set, n, ok := bytes.Cut(b, []byte("/"))
				if ok && (string(set) == "subscriber" || string(set) == "founder") {
					months, digits := leadingUint(n)
					if digits > 0 && digits == len(n) {
						c.SubMonths = months
					}
					break
				}
			}
		case "badges":
			for _, b := range bytes.Split(val, []byte(",")) {
				set, _, ok := bytes.Cut(b, []byte("/"))
				if !ok {
					continue
				}
				switch string(set) {
				case "broadcaster":
					c.Broadcaster = true
				case "moderator":
					c.Moderator = true
				case "vip":
					c.VIP = true
				case "subscriber", "founder":
					c.Subscriber = true
				}
			}
		case "bits":
			c.Bits = int(parseUint(val))
		case "display-name":
			c.DisplayName = val
		case "emotes":
			c.Emotes = val
		case "first-msg":
			c.FirstMsg = string(val) == "1"
		case "id":
			c.MsgID = val
		case "mod":
			c.Moderator = c.Moderator || string(val) == "1"
		case "reply-parent-display-name":
			c.ReplyParentDisplayName = val
		case "reply-parent-msg-id":
			c.ReplyParentMsgID = val
		case "reply-parent-user-login":
			c.ReplyParentLogin = val
		case "returning-chatter":
			c.ReturningChatter = string(val) == "1"
		case "room-id":
			c.RoomID = val
		case "source-room-id":
			c.SourceRoomID = val
		case "subscriber":
			c.Subscriber = c.Subscriber || string(val) == "1"
		case "tmi-sent-ts":
			c.TmiSentTs = 0
			if n, err := strconv.ParseInt(string(val), 10, 64); err == nil && val[0] != '+' {
				c.TmiSentTs = n
			}
		case "user-id":
			c.UserID = val
		case "vip":
			c.VIP = c.VIP || string(val) == "1"
		}
	}
	if len(c.UserID) > 0 && bytes.Equal(c.UserID, c.RoomID) {
		c.Broadcaster = true
	}
	if len(c.Emotes) > 0 {
		c.EmoteCount, c.EmoteChars = countEmotes(c.Emotes, CodePoints(c.Text))
	}
	return chatFields(&c)
}
