package irc

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// view is a comparable rendering of a Message.
type view struct {
	Cmd                                                Command
	Raw, Tags, Prefix, Nick, Channel, Params, Trailing string
	HasTrailing                                        bool
}

func viewOf(m *Message) view {
	return view{m.Command, str(m.RawCommand), str(m.Tags), str(m.Prefix), str(m.Nick), str(m.Channel), str(m.Params), str(m.Trailing), m.HasTrailing}
}

const nilS = "<nil>"

func TestParse(t *testing.T) {
	tests := []struct {
		name string
		line string
		want view
	}{
		{"privmsg", "@a=1;b=2 :nick!user@host PRIVMSG #chan :hello world",
			view{CmdPrivmsg, "PRIVMSG", "a=1;b=2", "nick!user@host", "nick", "chan", "#chan", "hello world", true}},
		{"ping_no_prefix", "PING :tmi.twitch.tv",
			view{CmdPing, "PING", nilS, nilS, nilS, nilS, nilS, "tmi.twitch.tv", true}},
		{"prefix_only_host", ":tmi.twitch.tv PING",
			view{CmdPing, "PING", nilS, "tmi.twitch.tv", "tmi.twitch.tv", nilS, nilS, nilS, false}},
		{"pong_middle_and_trailing", ":tmi.twitch.tv PONG tmi.twitch.tv :go-twitch-irc",
			view{CmdPong, "PONG", nilS, "tmi.twitch.tv", "tmi.twitch.tv", nilS, "tmi.twitch.tv", "go-twitch-irc", true}},
		{"names_channel_not_first", ":j.tmi.twitch.tv 353 j = #pajlada :j",
			view{CmdNames, "353", nilS, "j.tmi.twitch.tv", "j.tmi.twitch.tv", "pajlada", "j = #pajlada", "j", true}},
		{"welcome_numeric", ":tmi.twitch.tv 001 justinfan1 :Welcome, GLHF!",
			view{CmdWelcome, "001", nilS, "tmi.twitch.tv", "tmi.twitch.tv", nilS, "justinfan1", "Welcome, GLHF!", true}},
		{"notice_star", ":tmi.twitch.tv NOTICE * :Login unsuccessful",
			view{CmdNotice, "NOTICE", nilS, "tmi.twitch.tv", "tmi.twitch.tv", nilS, "*", "Login unsuccessful", true}},
		{"empty_trailing", ":a PRIVMSG #c :",
			view{CmdPrivmsg, "PRIVMSG", nilS, "a", "a", "c", "#c", "", true}},
		{"trailing_contains_space_colon", ":a PRIVMSG #c :x :y z",
			view{CmdPrivmsg, "PRIVMSG", nilS, "a", "a", "c", "#c", "x :y z", true}},
		{"trailing_starts_with_colon", ":a PRIVMSG #c ::)",
			view{CmdPrivmsg, "PRIVMSG", nilS, "a", "a", "c", "#c", ":)", true}},
		{"trailing_cr_dropped", "PING :x\r",
			view{CmdPing, "PING", nilS, nilS, nilS, nilS, nilS, "x", true}},
		{"lowercase_command", ":a privmsg #c :x",
			view{CmdPrivmsg, "privmsg", nilS, "a", "a", "c", "#c", "x", true}},
		{"extra_spaces", "@a=b  :p  PRIVMSG  #c  :x",
			view{CmdPrivmsg, "PRIVMSG", "a=b", "p", "p", "c", "#c", "x", true}},
		{"nick_at_host", ":nick@host JOIN #c",
			view{CmdJoin, "JOIN", nilS, "nick@host", "nick", "c", "#c", nilS, false}},
		{"params_trailing_space", ":p JOIN #c ",
			view{CmdJoin, "JOIN", nilS, "p", "p", "c", "#c", nilS, false}},
		{"bare_hash_channel", ":p JOIN #",
			view{CmdJoin, "JOIN", nilS, "p", "p", "", "#", nilS, false}},
		{"command_only", "PRIVMSG",
			view{CmdPrivmsg, "PRIVMSG", nilS, nilS, nilS, nilS, nilS, nilS, false}},
		{"unknown_command", ":jtv MODE #schmoopiie +o schmoopiie",
			view{CmdOther, "MODE", nilS, "jtv", "jtv", "schmoopiie", "#schmoopiie +o schmoopiie", nilS, false}},
		{"unknown_numeric", ":tmi.twitch.tv 421 me WHO :Unknown command",
			view{CmdOther, "421", nilS, "tmi.twitch.tv", "tmi.twitch.tv", nilS, "me WHO", "Unknown command", true}},
		{"invalid_utf8_body", ":a PRIVMSG #c :\xff\xfe\x01",
			view{CmdPrivmsg, "PRIVMSG", nilS, "a", "a", "c", "#c", "\xff\xfe\x01", true}},
		{"tag_value_with_space_escape", `@display-name=Riot\sGames :a PRIVMSG #c :x`,
			view{CmdPrivmsg, "PRIVMSG", `display-name=Riot\sGames`, "a", "a", "c", "#c", "x", true}},
		{"long_line", "@k=" + strings.Repeat("v", 3000) + " :a PRIVMSG #c :" + strings.Repeat("é", 1000),
			view{CmdPrivmsg, "PRIVMSG", "k=" + strings.Repeat("v", 3000), "a", "a", "c", "#c", strings.Repeat("é", 1000), true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := []byte(tt.line)
			var m Message
			if err := Parse(line, 0, &m); err != nil {
				t.Fatalf("Parse(%q) error: %v", tt.line, err)
			}
			if got := viewOf(&m); got != tt.want {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tt.line, got, tt.want)
			}
			for name, s := range map[string][]byte{"Tags": m.Tags, "Prefix": m.Prefix, "Nick": m.Nick, "Channel": m.Channel, "Params": m.Params, "Trailing": m.Trailing, "RawCommand": m.RawCommand} {
				if !within(line, s) {
					t.Errorf("Parse(%q): %s does not alias the line", tt.line, name)
				}
			}
		})
	}
}

func TestParse_errors(t *testing.T) {
	tests := []struct {
		name   string
		line   string
		maxLen int
		want   error
	}{
		{"empty", "", 0, ErrEmpty},
		{"only_cr", "\r", 0, ErrEmpty},
		{"at_only", "@", 0, ErrMalformed},
		{"truncated_tags", "@a=b", 0, ErrMalformed},
		{"tags_then_space", "@a=b ", 0, ErrMalformed},
		{"empty_tag_section", "@ PRIVMSG #c :x", 0, ErrMalformed},
		{"colon_only", ":", 0, ErrMalformed},
		{"prefix_only", ":tmi.twitch.tv", 0, ErrMalformed},
		{"empty_prefix", ": PRIVMSG #c :x", 0, ErrMalformed},
		{"prefix_then_space", ":tmi.twitch.tv ", 0, ErrMalformed},
		{"tags_and_prefix_only", "@a=b :nick!nick@host", 0, ErrMalformed},
		{"space_only", " ", 0, ErrMalformed},
		{"garbage_bytes", "\xff\xfe\x00\x01 junk", 0, ErrMalformed},
		{"command_with_dash", "PRIV-MSG #c :x", 0, ErrMalformed},
		{"two_digit_numeric", ":a 01 me :x", 0, ErrMalformed},
		{"four_digit_numeric", ":a 0001 me :x", 0, ErrMalformed},
		{"mixed_numeric", ":a 1a1 me :x", 0, ErrMalformed},
		{"trailing_as_command", ":a :x", 0, ErrMalformed},
		{"too_long_default", "PING :" + strings.Repeat("x", DefaultMaxLineBytes), 0, ErrTooLong},
		{"too_long_custom", "PING :xyz", 8, ErrTooLong},
		{"at_limit_ok", "PING :" + strings.Repeat("x", DefaultMaxLineBytes-6), 0, nil},
		{"custom_limit_ok", "PING :xyz", 9, nil},
		{"negative_limit_means_default", "PING :xyz", -1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			m.Command = CmdWhisper // must be reset by Parse
			err := Parse([]byte(tt.line), tt.maxLen, &m)
			if !errors.Is(err, tt.want) || (err == nil) != (tt.want == nil) {
				t.Fatalf("Parse(%.40q, %d) error = %v, want %v", tt.line, tt.maxLen, err, tt.want)
			}
			if err != nil {
				if !strings.HasPrefix(err.Error(), "irc: ") {
					t.Errorf("error %q lacks the %q prefix", err, "irc: ")
				}
				if got := viewOf(&m); m.Command != CmdOther || got.Raw != nilS {
					t.Errorf("after error Message = %+v, want it reset", got)
				}
			}
		})
	}
}

// sourceCommands reads the per-line command column of testdata/SOURCES.md.
func sourceCommands(t *testing.T) map[int]string {
	t.Helper()
	f, err := os.Open("testdata/SOURCES.md")
	if err != nil {
		t.Fatalf("open SOURCES.md: %v", err)
	}
	defer f.Close()
	cmds := map[int]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "|")
		if len(cols) < 4 {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(cols[1]))
		if err != nil {
			continue
		}
		cmds[n] = strings.TrimSpace(cols[2])
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read SOURCES.md: %v", err)
	}
	return cmds
}

func TestParse_realLines(t *testing.T) {
	want := map[string]Command{
		"PRIVMSG": CmdPrivmsg, "CLEARCHAT": CmdClearChat, "CLEARMSG": CmdClearMsg, "USERNOTICE": CmdUserNotice,
		"ROOMSTATE": CmdRoomState, "PING": CmdPing, "PONG": CmdPong, "JOIN": CmdJoin, "PART": CmdPart,
		"353": CmdNames, "366": CmdNames, "RECONNECT": CmdReconnect, "NOTICE": CmdNotice, "001": CmdWelcome,
		"002": CmdWelcome, "003": CmdWelcome, "004": CmdWelcome, "372": CmdWelcome, "375": CmdWelcome,
		"376": CmdWelcome, "CAP": CmdCap, "GLOBALUSERSTATE": CmdGlobalUserState, "USERSTATE": CmdUserState,
		"WHISPER": CmdWhisper, "MODE": CmdOther,
	}
	cmds := sourceCommands(t)
	for i, line := range realLines(t) {
		no := i + 1
		raw, ok := cmds[no]
		if !ok {
			t.Fatalf("SOURCES.md has no row for line %d", no)
		}
		wantCmd, ok := want[raw]
		if !ok {
			t.Fatalf("line %d: command %q from SOURCES.md not in the test's map", no, raw)
		}
		var m Message
		if err := Parse(line, 0, &m); err != nil {
			t.Errorf("line %d: Parse error: %v", no, err)
			continue
		}
		if string(m.RawCommand) != raw || m.Command != wantCmd {
			t.Errorf("line %d: command = %q (%v), want %q (%v)", no, m.RawCommand, m.Command, raw, wantCmd)
		}
		if got := CommandOf(line); got != wantCmd {
			t.Errorf("line %d: CommandOf = %v, want %v", no, got, wantCmd)
		}
	}
}

func TestCommandOf(t *testing.T) {
	tests := []struct {
		line string
		want Command
	}{
		{"@a=b;c=d :n!n@h PRIVMSG #c :x", CmdPrivmsg},
		{"@a=b CLEARCHAT #c", CmdClearChat}, // tags without prefix
		{"@a=b :tmi.twitch.tv CLEARMSG #c :x", CmdClearMsg},
		{":tmi.twitch.tv USERNOTICE #c", CmdUserNotice},
		{":tmi.twitch.tv ROOMSTATE #c", CmdRoomState},
		{"PING :tmi.twitch.tv", CmdPing},
		{":tmi.twitch.tv PONG tmi.twitch.tv :x", CmdPong},
		{":n!n@h JOIN #c", CmdJoin},
		{":n!n@h PART #c", CmdPart},
		{":h 353 me = #c :n", CmdNames},
		{":h 366 me #c :End", CmdNames},
		{":tmi.twitch.tv RECONNECT", CmdReconnect},
		{":tmi.twitch.tv NOTICE * :x", CmdNotice},
		{":tmi.twitch.tv 001 me :Welcome", CmdWelcome},
		{":tmi.twitch.tv 376 me :>", CmdWelcome},
		{":tmi.twitch.tv 377 me :x", CmdOther},
		{":tmi.twitch.tv 000 me :x", CmdOther},
		{":tmi.twitch.tv CAP * ACK :twitch.tv/tags", CmdCap},
		{"@a=b :tmi.twitch.tv GLOBALUSERSTATE", CmdGlobalUserState},
		{"@a=b :tmi.twitch.tv USERSTATE #c", CmdUserState},
		{"@a=b :n!n@h WHISPER me :x", CmdWhisper},
		{":n!n@h whisper me :x", CmdWhisper},
		{":jtv MODE #c +o n", CmdOther},
		{"@a=b;c=PRIVMSG :n!n@h NOTICE #c :PRIVMSG", CmdNotice}, // command word only, not tags or text
		{"PRIVMSGX #c :x", CmdOther},
		{"GLOBALUSERSTATEX", CmdOther},
		{"", CmdOther},
		{"@", CmdOther},
		{"@a=b", CmdOther},
		{":", CmdOther},
		{":prefix", CmdOther},
	}
	for _, tt := range tests {
		if got := CommandOf([]byte(tt.line)); got != tt.want {
			t.Errorf("CommandOf(%q) = %v, want %v", tt.line, got, tt.want)
		}
	}
}

func TestCommand_String(t *testing.T) {
	tests := []struct {
		c    Command
		want string
	}{
		{CmdOther, "OTHER"}, {CmdPrivmsg, "PRIVMSG"}, {CmdNames, "NAMES"}, {CmdWelcome, "WELCOME"},
		{CmdGlobalUserState, "GLOBALUSERSTATE"}, {CmdWhisper, "WHISPER"}, {Command(200), "OTHER"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Command(%d).String() = %q, want %q", tt.c, got, tt.want)
		}
	}
	// Every named command round-trips through the lookup used by Parse.
	for c := CmdPrivmsg; c < numCommands; c++ {
		if c == CmdNames || c == CmdWelcome {
			continue
		}
		if got := lookupCommand([]byte(c.String())); got != c {
			t.Errorf("lookupCommand(%q) = %v, want %v", c.String(), got, c)
		}
	}
}

func TestMessage_Tag(t *testing.T) {
	line := []byte(`@badge-info=;badges=vip/1;color;display-name=Riot\sGames;reply-parent-msg-body=foo=bar;id=x;vip=0;a;b= :n!n@h PRIVMSG #c :hi`)
	var m Message
	if err := Parse(line, 0, &m); err != nil {
		t.Fatalf("Parse: %v", err)
	}
	tests := []struct {
		key    string
		want   string
		wantOK bool
	}{
		{"badge-info", "", true},
		{"badges", "vip/1", true},
		{"color", "", true}, // key-only tag
		{"display-name", `Riot\sGames`, true},
		{"reply-parent-msg-body", "foo=bar", true}, // split on the first '=' only
		{"id", "x", true},
		{"vip", "0", true},
		{"a", "", true}, // key-only in the middle
		{"b", "", true}, // empty value at the end
		{"badge", "", false},
		{"col", "", false},
		{"d", "", false},
		{"reply-parent-msg-body=foo", "", false},
	}
	for _, tt := range tests {
		got, ok := m.Tag(tt.key)
		if string(got) != tt.want || ok != tt.wantOK {
			t.Errorf("Tag(%q) = %q, %v; want %q, %v", tt.key, got, ok, tt.want, tt.wantOK)
		}
		if !within(line, got) {
			t.Errorf("Tag(%q) does not alias the line", tt.key)
		}
	}
	var none Message
	if got, ok := none.Tag("id"); got != nil || ok {
		t.Errorf("Tag on a Message without tags = %q, %v; want nil, false", got, ok)
	}
}

func TestNextLine(t *testing.T) {
	tests := []struct {
		frame string
		want  []string
	}{
		{"", nil},
		{"\r\n", nil},
		{"PING :x\r\n", []string{"PING :x"}},
		{"PING :x", []string{"PING :x"}}, // no terminator
		{"a\r\nb\r\n", []string{"a", "b"}},
		{"a\nb\n", []string{"a", "b"}},
		{"a\r\n\r\n\nb", []string{"a", "b"}},
		{"\r\n\r\na\r\n", []string{"a"}},
		{"a\rb\r\n", []string{"a\rb"}}, // only a CR before LF is a terminator
	}
	for _, tt := range tests {
		var got []string
		for line, rest := NextLine([]byte(tt.frame)); line != nil; line, rest = NextLine(rest) {
			got = append(got, string(line))
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) || len(got) != len(tt.want) {
			t.Errorf("NextLine(%q) lines = %q, want %q", tt.frame, got, tt.want)
		}
	}
}
