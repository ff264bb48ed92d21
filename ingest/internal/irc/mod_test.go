package irc

import (
	"errors"
	"testing"
)

type modView struct {
	RoomID, Channel, TargetUserID, TargetLogin, TargetMsgID, MsgIDTag, Text, Login, MsgID string
	BanDurationS                                                                          int64
	HasBanDuration                                                                        bool
	TmiSentTs                                                                             int64
	Clear                                                                                 ClearKind
	RaidViewers                                                                           int
	RaidLogin                                                                             string
	Room                                                                                  RoomState
}

func modViewOf(d *Mod) modView {
	return modView{
		str(d.RoomID), str(d.Channel), str(d.TargetUserID), str(d.TargetLogin), str(d.TargetMsgID), str(d.MsgIDTag), str(d.Text), str(d.Login), str(d.MsgID),
		d.BanDurationS, d.HasBanDuration, d.TmiSentTs, d.Clear, d.RaidViewers, str(d.RaidLogin), d.Room,
	}
}

func TestParseMod(t *testing.T) {
	const n = nilS
	tests := []struct {
		name string
		line int
		want modView
	}{
		{"timeout", 71, modView{"71092938", "xqcow", "48215771", "onche", n, n, n, n, n, 150, true, 1568505600739, ClearTimeout, 0, n, RoomState{}}},
		{"ban", 74, modView{"11148817", "pajlada", "70948394", "weeb123", n, n, n, n, n, 0, false, 1594561360331, ClearBan, 0, n, RoomState{}}},
		{"clear_chat", 75, modView{"40286300", "randers", n, n, n, n, n, n, n, 0, false, 1594561392337, ClearAll, 0, n, RoomState{}}},
		{"timeout_old_format", 76, modView{"11148817", "pajlada", "40910607", "ampzyh", n, n, n, n, n, 1, true, 0, ClearTimeout, 0, n, RoomState{}}},
		{"ban_without_tags", 78, modView{n, "dallas", n, "ronni", n, n, n, n, n, 0, false, 0, ClearBan, 0, n, RoomState{}}},
		{"clearmsg_empty_room_id", 79, modView{"", "pajlada", n, n, "3c92014f-340a-4dc3-a9c9-e5cf182f4a84", n, "NIGHT CUNT", "alazymeme", n, 0, false, 1594561955611, ClearNone, 0, n, RoomState{}}},
		{"clearmsg_action_text_raw", 80, modView{"", "pajlada", n, n, "15e5164d-f8e6-4aec-baf4-2d6a330760c4", n, "\x01ACTION test\x01", "randers", n, 0, false, 1594562632383, ClearNone, 0, n, RoomState{}}},
		{"clearmsg_negative_ts", 81, modView{"", "randers", n, n, "25fd76d9-4731-4907-978e-a391134ebd67", n, "Pong! Uptime: 6h, 15m; Temperature: 54.8°C; Latency to TMI: 183ms; Commands used: 795", "supibot", n, 0, false, -6795364578871, ClearNone, 0, n, RoomState{}}},
		{"usernotice_sub", 84, modView{"71092938", "xqcow", n, n, n, "sub", n, "fallenseraphhh", "2a9bea11-a80a-49a0-a498-1642d457f775", 0, false, 1582685713242, ClearNone, 0, n, RoomState{}}},
		{"usernotice_raid", 87, modView{"71092938", "xqcow", n, n, n, "raid", n, "iamelisabete", "bb99dda7-3736-4583-9114-52aa11b23d17", 0, false, 1594517796120, ClearNone, 430, "iamelisabete", RoomState{}}},
		{"usernotice_unraid", 97, modView{"269899575", "fletchercodes", n, n, n, "unraid", n, "fletchercodes", "06e33f48-c728-4332-b4bc-b7eae6f59f3c", 0, false, 1551518456143, ClearNone, 0, n, RoomState{}}},
		{"usernotice_with_text", 93, modView{"6316121", "seventoes", n, n, n, "ritual", "HeyGuys", "seventest1", "37feed0f-b9c7-4c3a-b475-21c6c6d21c3d", 0, false, 1508363903826, ClearNone, 0, n, RoomState{}}},
		{"roomstate_full", 20, modView{"40286300", "randers", n, n, n, n, n, n, n, 0, false, 0, ClearNone, 0, n,
			RoomState{Has: HasEmoteOnly | HasFollowersOnly | HasR9K | HasSlow | HasSubsOnly, FollowersOnlyMin: -1}}},
		{"roomstate_slow", 21, modView{"40286300", "randers", n, n, n, n, n, n, n, 0, false, 0, ClearNone, 0, n, RoomState{Has: HasSlow, SlowS: 5}}},
		{"roomstate_followers", 22, modView{"408892348", "clippyassistant", n, n, n, n, n, n, n, 0, false, 0, ClearNone, 0, n, RoomState{Has: HasFollowersOnly, FollowersOnlyMin: 10}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := realLine(t, tt.line)
			var m Message
			var d Mod
			if err := Parse(line, 0, &m); err != nil {
				t.Fatalf("Parse(line %d): %v", tt.line, err)
			}
			if err := ParseMod(&m, &d); err != nil {
				t.Fatalf("ParseMod(line %d): %v", tt.line, err)
			}
			if got := modViewOf(&d); got != tt.want {
				t.Errorf("ParseMod(line %d) =\n %+v\nwant\n %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseMod_synthetic(t *testing.T) {
	tests := []struct {
		name      string
		line      string
		wantClear ClearKind
		wantRoom  RoomState
	}{
		{"empty_trailing_is_clear", "@room-id=1 :tmi.twitch.tv CLEARCHAT #c :", ClearAll, RoomState{}},
		{"bad_duration_is_ban", "@ban-duration=x :tmi.twitch.tv CLEARCHAT #c :u", ClearBan, RoomState{}},
		{"roomstate_on", "@emote-only=1;r9k=1;subs-only=1;followers-only=0 :tmi.twitch.tv ROOMSTATE #c", ClearNone,
			RoomState{Has: HasEmoteOnly | HasR9K | HasSubsOnly | HasFollowersOnly, EmoteOnly: true, R9K: true, SubsOnly: true}},
		{"roomstate_invalid_values_ignored", "@emote-only=yes;slow=-3;followers-only=;subs-only :tmi.twitch.tv ROOMSTATE #c", ClearNone, RoomState{}},
		{"room_keys_only_on_roomstate", "@emote-only=1;slow=5 :tmi.twitch.tv USERNOTICE #c", ClearNone, RoomState{}},
	}
	for _, tt := range tests {
		var m Message
		var d Mod
		if err := Parse([]byte(tt.line), 0, &m); err != nil {
			t.Fatalf("%s: Parse: %v", tt.name, err)
		}
		if err := ParseMod(&m, &d); err != nil {
			t.Fatalf("%s: ParseMod: %v", tt.name, err)
		}
		if d.Clear != tt.wantClear || d.Room != tt.wantRoom {
			t.Errorf("%s: ParseMod(%q) Clear, Room = %v, %+v; want %v, %+v", tt.name, tt.line, d.Clear, d.Room, tt.wantClear, tt.wantRoom)
		}
	}
	// A non-raid USERNOTICE does not report raid fields even if the tags exist.
	var m Message
	var d Mod
	if err := Parse([]byte("@msg-id=sub;msg-param-login=x;msg-param-viewerCount=5 :tmi.twitch.tv USERNOTICE #c"), 0, &m); err != nil {
		t.Fatal(err)
	}
	if err := ParseMod(&m, &d); err != nil {
		t.Fatal(err)
	}
	if d.RaidLogin != nil || d.RaidViewers != 0 {
		t.Errorf("non-raid USERNOTICE: RaidLogin, RaidViewers = %q, %d; want nil, 0", d.RaidLogin, d.RaidViewers)
	}
}

func TestParseMod_errors(t *testing.T) {
	tests := []struct {
		line string
		want error
	}{
		{":u!u@u PRIVMSG #c :x", ErrCommand},
		{"PING :x", ErrCommand},
		{"CLEARCHAT", ErrMalformed},
		{":tmi.twitch.tv ROOMSTATE nochannel", ErrMalformed},
	}
	for _, tt := range tests {
		var m Message
		if err := Parse([]byte(tt.line), 0, &m); err != nil {
			t.Fatalf("Parse(%q): %v", tt.line, err)
		}
		if err := ParseMod(&m, &Mod{}); !errors.Is(err, tt.want) {
			t.Errorf("ParseMod(%q) error = %v, want %v", tt.line, err, tt.want)
		}
	}
}

func TestParseMod_zeroAllocs(t *testing.T) {
	var m Message
	var d Mod
	for _, no := range []int{20, 71, 79, 87} {
		line := realLine(t, no)
		n := testing.AllocsPerRun(100, func() {
			if err := Parse(line, 0, &m); err != nil {
				t.Fatal(err)
			}
			if err := ParseMod(&m, &d); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("Parse+ParseMod(line %d) allocates %v times per run, want 0", no, n)
		}
	}
}

func TestClearKind_String(t *testing.T) {
	for k, want := range map[ClearKind]string{ClearNone: "none", ClearAll: "clear", ClearTimeout: "timeout", ClearBan: "ban", 9: "none"} {
		if got := k.String(); got != want {
			t.Errorf("ClearKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
