package irc

import (
	"errors"
	"strings"
	"testing"
)

// chatView is the comparable part of a Chat checked by TestParseChat.
type chatView struct {
	Text                                           string
	IsAction                                       bool
	Broadcaster, Moderator, VIP, Subscriber        bool
	FirstMsg, ReturningChatter                     bool
	SubMonths, EmoteCount, EmoteChars, Bits        int
	ReplyParentMsgID, ReplyParentLogin, SourceRoom string
}

func chatViewOf(c *Chat) chatView {
	return chatView{
		Text: str(c.Text), IsAction: c.IsAction,
		Broadcaster: c.Broadcaster, Moderator: c.Moderator, VIP: c.VIP, Subscriber: c.Subscriber,
		FirstMsg: c.FirstMsg, ReturningChatter: c.ReturningChatter,
		SubMonths: c.SubMonths, EmoteCount: c.EmoteCount, EmoteChars: c.EmoteChars, Bits: c.Bits,
		ReplyParentMsgID: str(c.ReplyParentMsgID), ReplyParentLogin: str(c.ReplyParentLogin), SourceRoom: str(c.SourceRoomID),
	}
}

// TestParseChat checks real PRIVMSG lines (numbers refer to
// testdata/real_lines.txt and SOURCES.md). Emote expectations were computed
// independently from the code-point length of the text.
func TestParseChat(t *testing.T) {
	tests := []struct {
		name string
		line int
		want chatView
	}{
		{"broadcaster_badge_and_ids", 32, chatView{Text: "HeyGuys", Broadcaster: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"plain", 33, chatView{Text: "dank cam", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"vip_tag_and_badge", 34, chatView{Text: "boing", VIP: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"first_msg", 35, chatView{Text: "Chew your food slower... it's healthier", FirstMsg: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"vip_badge_only", 36, chatView{Text: "jajaja xD", VIP: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"reply", 37, chatView{Text: "@Retoon yes", ReplyParentMsgID: "6b13e51b-7ecb-43b5-ba5b-2bb5288df696", ReplyParentLogin: "retoon", SourceRoom: nilS}},
		{"reply_value_with_equals", 40, chatView{Text: "@SomeUser -tags", ReplyParentMsgID: "725d8358-d934-42c7-a606-a0b3ed82a642", ReplyParentLogin: "someuser", SourceRoom: nilS}},
		{"shared_chat_reply_mod", 41, chatView{Text: "foo", Moderator: true, ReplyParentMsgID: "be526917-00bd-42fe-98da-1d5ec62a45d4", ReplyParentLogin: "atruthfulliar18", SourceRoom: "92038375"}},
		{"shared_chat", 42, chatView{Text: "HUHH", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: "92038375"}},
		{"vip_sub_months", 44, chatView{Text: "will gift 5 subs as well if u clutch up", VIP: true, Subscriber: true, SubMonths: 8, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"many_emotes", 46, chatView{Text: "Kappa Keepo Kappa Kappa test Keepo Keepo 123 :) :) :P", Moderator: true, Subscriber: true, SubMonths: 22, EmoteCount: 9, EmoteChars: 36, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emotes_after_astral_emoji", 47, chatView{Text: "👉 <3 👉 <3 👉 <3", Moderator: true, Subscriber: true, SubMonths: 22, EmoteCount: 3, EmoteChars: 6, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_repeated", 48, chatView{Text: "TriHard Clap TriHard Clap TriHard Clap TriHard Clap TriHard Clap", EmoteCount: 5, EmoteChars: 35, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_off_by_one_dropped", 49, chatView{Text: "Чет скушные катки Жек когда Хачаги?! ResidentSleeper", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_off_by_two_dropped", 51, chatView{Text: "Då kan du begära skadestånd och förtal Kappa", Subscriber: true, SubMonths: 3, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"broadcaster_by_ids", 55, chatView{Text: "test fake message", Broadcaster: true, Moderator: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_id_underscore", 57, chatView{Text: "pajaM_TK", EmoteCount: 1, EmoteChars: 8, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_id_slash", 58, chatView{Text: "\U000E0000-tags pajaW_/3.0", Moderator: true, Subscriber: true, SubMonths: 52, EmoteCount: 1, EmoteChars: 8, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"bits", 59, chatView{Text: "trihard1", Bits: 1, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emotes_around_emoji", 61, chatView{Text: "forsenJoy 👌 forsenJoy 👌 forsenJoy 👌", Subscriber: true, SubMonths: 1, EmoteCount: 3, EmoteChars: 27, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"key_only_color", 63, chatView{Text: "hello", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"action", 64, chatView{Text: "-tags", IsAction: true, Moderator: true, Subscriber: true, SubMonths: 22, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"action_emotes_offsets_after_strip", 65, chatView{Text: "A LOJA AINDA NÃO ESTÁ PRONTA BibleThump , AGUARDE... NOVIDADES EM BREVE FortOne", IsAction: true, Moderator: true, EmoteCount: 1, EmoteChars: 10, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"empty_action", 66, chatView{Text: "", IsAction: true, Broadcaster: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"emote_only_long_line", 70, chatView{Text: strings.TrimSuffix(strings.Repeat("ANELE ", 48), " "), EmoteCount: 48, EmoteChars: 240, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			line := realLine(t, tt.line)
			var m Message
			var c Chat
			if err := Parse(line, 0, &m); err != nil {
				t.Fatalf("Parse(line %d): %v", tt.line, err)
			}
			if err := ParseChat(&m, &c); err != nil {
				t.Fatalf("ParseChat(line %d): %v", tt.line, err)
			}
			if got := chatViewOf(&c); got != tt.want {
				t.Errorf("ParseChat(line %d) =\n %+v\nwant\n %+v", tt.line, got, tt.want)
			}
			for name, s := range map[string][]byte{"Text": c.Text, "RoomID": c.RoomID, "UserID": c.UserID, "Login": c.Login, "MsgID": c.MsgID, "Emotes": c.Emotes} {
				if !within(line, s) {
					t.Errorf("line %d: %s does not alias the line", tt.line, name)
				}
			}
		})
	}
}

func TestParseChat_fields(t *testing.T) {
	var m Message
	var c Chat
	line := realLine(t, 55) // display-name=Riot\sGames, user-id == room-id
	if err := Parse(line, 0, &m); err != nil {
		t.Fatal(err)
	}
	if err := ParseChat(&m, &c); err != nil {
		t.Fatal(err)
	}
	equal(t, "Login", str(c.Login), "riotgames")
	equal(t, "Channel", str(c.Channel), "riotgames")
	equal(t, "DisplayName", str(c.DisplayName), `Riot\sGames`)
	equal(t, "Unescape(DisplayName)", string(Unescape(nil, c.DisplayName)), "Riot Games")
	equal(t, "RoomID", str(c.RoomID), "36029255")
	equal(t, "UserID", str(c.UserID), "36029255")
	equal(t, "MsgID", str(c.MsgID), "bdfa278e-11c4-484f-9491-0a61b16fab60")
	equal(t, "TmiSentTs", c.TmiSentTs, int64(1593953876927))

	line = realLine(t, 37) // reply
	if err := Parse(line, 0, &m); err != nil {
		t.Fatal(err)
	}
	if err := ParseChat(&m, &c); err != nil {
		t.Fatal(err)
	}
	equal(t, "ReplyParentDisplayName", str(c.ReplyParentDisplayName), "Retoon")
}

func TestParseChat_synthetic(t *testing.T) {
	const pre = ":u!u@u.tmi.twitch.tv PRIVMSG #c :"
	tests := []struct {
		name string
		line string
		want chatView
	}{
		{"vip_zero_is_not_vip", "@vip=0;mod=0;subscriber=0 " + pre + "hi",
			chatView{Text: "hi", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"founder_months", "@badge-info=predictions/blue\\s1,founder/17;badges=founder/0 " + pre + "hi",
			chatView{Text: "hi", Subscriber: true, SubMonths: 17, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"no_tags", pre + "hi",
			chatView{Text: "hi", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"action_without_closing", pre + "\x01ACTION waves",
			chatView{Text: "waves", IsAction: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"action_space_only", pre + "\x01ACTION \x01",
			chatView{Text: "", IsAction: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"action_bare", pre + "\x01ACTION",
			chatView{Text: "", IsAction: true, ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"not_action_word", pre + "\x01ACTIONS x\x01",
			chatView{Text: "\x01ACTIONS x\x01", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"other_ctcp_untouched", pre + "\x01VERSION\x01",
			chatView{Text: "\x01VERSION\x01", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"text_as_middle_param", "@id=1 :u!u@u PRIVMSG #c word",
			chatView{Text: "word", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"bad_numbers_are_zero", "@tmi-sent-ts=12x;bits=-5;badge-info=subscriber/abc " + pre + "hi",
			chatView{Text: "hi", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
		{"empty_ids_not_broadcaster", "@user-id=;room-id= " + pre + "hi",
			chatView{Text: "hi", ReplyParentMsgID: nilS, ReplyParentLogin: nilS, SourceRoom: nilS}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Message
			var c Chat
			if err := Parse([]byte(tt.line), 0, &m); err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if err := ParseChat(&m, &c); err != nil {
				t.Fatalf("ParseChat: %v", err)
			}
			if got := chatViewOf(&c); got != tt.want {
				t.Errorf("ParseChat(%q) =\n %+v\nwant\n %+v", tt.line, got, tt.want)
			}
		})
	}
}

func TestParseChat_errors(t *testing.T) {
	tests := []struct {
		name string
		line string
		want error
	}{
		{"not_privmsg", ":tmi.twitch.tv NOTICE #c :x", ErrCommand},
		{"command_only", "PRIVMSG", ErrMalformed},
		{"no_channel", ":u PRIVMSG me :x", ErrMalformed},
		{"no_text", ":u PRIVMSG #c", ErrMalformed},
	}
	for _, tt := range tests {
		var m Message
		if err := Parse([]byte(tt.line), 0, &m); err != nil {
			t.Fatalf("Parse(%q): %v", tt.line, err)
		}
		c := Chat{Bits: 7}
		err := ParseChat(&m, &c)
		if !errors.Is(err, tt.want) {
			t.Errorf("%s: ParseChat(%q) error = %v, want %v", tt.name, tt.line, err, tt.want)
		}
		if c.Bits != 0 {
			t.Errorf("%s: ParseChat did not reset c on error", tt.name)
		}
	}
}

func TestCountEmotes(t *testing.T) {
	tests := []struct {
		name      string
		tag       string
		textLen   int
		wantCount int
		wantChars int
	}{
		{"single", "25:0-4", 5, 1, 5},
		{"end_out_of_bounds", "25:0-5", 5, 0, 0},
		{"last_code_point", "25:4-4", 5, 1, 1},
		{"start_after_end", "25:4-2", 10, 0, 0},
		{"several_ids", "25:0-4,6-10/1902:12-16", 17, 3, 15},
		{"id_with_slash", "80481_/3:7-14", 17, 1, 8},
		{"id_with_slash_then_more", "80481_/3:0-1/25:3-4", 5, 2, 4},
		{"some_in_bounds", "25:0-4,50-54", 10, 1, 5},
		{"empty_text", "25:0-0", 0, 0, 0},
		{"huge_numbers", "25:0-99999999999999999999999", 10, 0, 0},
		{"garbage", "25:x-y", 10, 0, 0},
		{"missing_end", "25:0-", 10, 0, 0},
		{"missing_dash", "25:0", 10, 0, 0},
		{"no_colon", "25", 10, 0, 0},
		{"trailing_comma", "25:0-1,", 10, 1, 2},
		{"trailing_slash", "25:0-1/", 10, 1, 2},
		{"stops_at_garbage", "25:0-1;x/26:2-3", 10, 1, 2},
		{"empty", "", 10, 0, 0},
	}
	for _, tt := range tests {
		count, chars := countEmotes([]byte(tt.tag), tt.textLen)
		if count != tt.wantCount || chars != tt.wantChars {
			t.Errorf("%s: countEmotes(%q, %d) = %d, %d; want %d, %d", tt.name, tt.tag, tt.textLen, count, chars, tt.wantCount, tt.wantChars)
		}
	}
}

func TestCodePoints(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"é", 1},
		{"가나다라마바사아자", 9},
		{"👉 <3 👉 <3 👉 <3", 14},
		{"\U000E0000-tags pajaW_/3.0", 17},
		{strings.Repeat("ü", 37), 37}, // crosses 8-byte blocks
		{"\xff\xfe", 2},               // invalid lead bytes count as one each
		{"\x80\x80abc", 3},            // stray continuation bytes do not count
		{strings.Repeat("a\u00e9\u20ac\U0001F600", 20), 80}, // 1-, 2-, 3- and 4-byte sequences
	}
	for _, tt := range tests {
		if got := CodePoints([]byte(tt.in)); got != tt.want {
			t.Errorf("CodePoints(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// typicalPrivmsg is a ~450-byte PRIVMSG with the modern tag set, emotes and
// badges.
var typicalPrivmsg = []byte("@badge-info=subscriber/22;badges=moderator/1,subscriber/12;client-nonce=cd56193132f934ac71b4d5ac488d4bd6;color=#19E6E6;display-name=randers;emotes=25:0-4,12-16/1902:6-10;first-msg=0;flags=;id=f9c5774b-faa7-4378-b1af-c4e08b532dc2;mod=1;returning-chatter=0;room-id=11148817;subscriber=1;tmi-sent-ts=1594556065407;turbo=0;user-id=40286300;user-type=mod;vip=0 :randers!randers@randers.tmi.twitch.tv PRIVMSG #pajlada :Kappa Keepo Kappa hello chat how is it going")

func TestParseChat_zeroAllocs(t *testing.T) {
	var m Message
	var c Chat
	lines := [][]byte{typicalPrivmsg, realLine(t, 46), realLine(t, 65), realLine(t, 69), realLine(t, 70)}
	for _, line := range lines {
		n := testing.AllocsPerRun(200, func() {
			if err := Parse(line, 0, &m); err != nil {
				t.Fatal(err)
			}
			if err := ParseChat(&m, &c); err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 {
			t.Errorf("Parse+ParseChat(%.60q...) allocates %v times per run, want 0", line, n)
		}
	}
	if len(typicalPrivmsg) < 430 || len(typicalPrivmsg) > 470 {
		t.Errorf("typicalPrivmsg is %d bytes, want about 450", len(typicalPrivmsg))
	}
	n := testing.AllocsPerRun(200, func() { _ = CommandOf(typicalPrivmsg) })
	if n != 0 {
		t.Errorf("CommandOf allocates %v times per run, want 0", n)
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in     string
		want   int64
		wantOK bool
	}{
		{"0", 0, true},
		{"1594556065407", 1594556065407, true},
		{"-6795364578871", -6795364578871, true},
		{"9223372036854775807", 9223372036854775807, true},
		{"-9223372036854775808", -9223372036854775808, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"000000000000000000010", 10, true}, // leading zeros are not a length limit
		{"-0", 0, true},
		{"", 0, false},
		{"-", 0, false},
		{"+5", 0, false},
		{"12x", 0, false},
		{" 1", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseInt([]byte(tt.in))
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseInt(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
