package event

import (
	"errors"
	"testing"
)

// toMap turns Values output into the map go-redis returns for an entry.
func toMap(t *testing.T, kv []any) map[string]any {
	t.Helper()
	if len(kv)%2 != 0 {
		t.Fatalf("odd number of values: %d", len(kv))
	}
	m := map[string]any{}
	for i := 0; i < len(kv); i += 2 {
		k := kv[i].(string)
		if _, dup := m[k]; dup {
			t.Fatalf("field %q written twice", k)
		}
		m[k] = kv[i+1]
	}
	return m
}

func TestChat_RoundTrip(t *testing.T) {
	in := Chat{
		MsgID: "eb24e920-8065-492a-8aea-266a00fc5126", RoomID: "713936733", Channel: "xyz", UserID: "1", Login: "abc",
		DisplayName: "Riot Games", Text: "héllo \x01 wörld", IsAction: true, TmiSentTsMs: 1642786203573, ReceivedAtUs: 1642786203574001,
		Broadcaster: true, Moderator: true, VIP: true, Subscriber: true, SubMonths: 26, FirstMsg: true, ReturningChatter: true,
		ReplyParentMsgID: "p", ReplyParentLogin: "pl", ReplyParentDisplayName: "PL", SourceRoomID: "9", EmoteCount: 2, EmoteChars: 10,
	}
	got, err := DecodeChat(toMap(t, in.Values(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Errorf("DecodeChat(Values(x)) = %+v, want %+v", got, in)
	}
}

func TestMod_RoundTrip(t *testing.T) {
	in := Mod{Kind: ModTimeout, Source: "irc", RoomID: "1", Channel: "c", TargetUserID: "2", TargetLogin: "u", DurationS: 600,
		TmiSentTsMs: 5, ReceivedAtUs: 6, RaidViewers: 3, RaidFromLogin: "r", Settings: "slow=5", Text: "t", TargetMsgID: "m", ModeratorLogin: "mod"}
	got, err := DecodeMod(toMap(t, in.Values(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if got != in {
		t.Errorf("DecodeMod(Values(x)) = %+v, want %+v", got, in)
	}
}

func TestDecodeChat_Bad(t *testing.T) {
	good := func() map[string]any {
		c := Chat{MsgID: "m", RoomID: "r", Channel: "c", UserID: "u", Text: "t"}
		return toMap(t, c.Values(nil))
	}
	tests := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"missing msg_id", func(m map[string]any) { delete(m, FieldMsgID) }, FieldMsgID},
		{"empty msg_id", func(m map[string]any) { m[FieldMsgID] = "" }, FieldMsgID},
		{"missing text", func(m map[string]any) { delete(m, FieldText) }, FieldText},
		{"bad ts", func(m map[string]any) { m[FieldTimes] = "12x,5" }, FieldTimes},
		{"one time", func(m map[string]any) { m[FieldTimes] = "12" }, FieldTimes},
		{"three times", func(m map[string]any) { m[FieldTimes] = "1,2,3" }, FieldTimes},
		{"bad flag", func(m map[string]any) { m[FieldTrust] = "0,0,2,0,0,0,0" }, FieldTrust},
		{"short trust", func(m map[string]any) { m[FieldTrust] = "0,0,0" }, FieldTrust},
		{"bad is_action", func(m map[string]any) { m[FieldTextMeta] = "yes,0,0" }, FieldTextMeta},
		{"other version", func(m map[string]any) { m[FieldSchemaVersion] = "3" }, FieldSchemaVersion},
		{"no version", func(m map[string]any) { delete(m, FieldSchemaVersion) }, FieldSchemaVersion},
		{"wrong type", func(m map[string]any) { m[FieldRoomID] = 7 }, FieldRoomID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := good()
			tt.edit(m)
			_, err := DecodeChat(m)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field {
				t.Errorf("DecodeChat = %v, want DecodeError on %q", err, tt.field)
			}
		})
	}
	m := good()
	m["some_future_field"] = "x"
	if _, err := DecodeChat(m); err != nil {
		t.Errorf("unknown field: DecodeChat = %v, want nil", err)
	}
	// Absent groups are zero (as absent fields were in version 1).
	m = good()
	delete(m, FieldTimes)
	delete(m, FieldTrust)
	delete(m, FieldTextMeta)
	if c, err := DecodeChat(m); err != nil || c.TmiSentTsMs != 0 || c.Subscriber || c.EmoteCount != 0 {
		t.Errorf("no groups: DecodeChat = %+v, %v; want zero values", c, err)
	}
}

func TestDecodeMod_UnknownKind(t *testing.T) {
	m := Mod{Kind: "explode", Channel: "c"}
	if _, err := DecodeMod(toMap(t, m.Values(nil))); err == nil {
		t.Error("DecodeMod(unknown kind) = nil error, want error")
	}
}

func TestAction_ParseString(t *testing.T) {
	for _, a := range DiscreteActions {
		got, err := ParseAction(a.String())
		if err != nil || got != a {
			t.Errorf("ParseAction(%q) = %v, %v, want %v", a.String(), got, err, a)
		}
		if ActionIndex(a) < 0 {
			t.Errorf("ActionIndex(%v) = -1", a)
		}
	}
	for _, bad := range []string{"", "BAN", "TIMEOUT", "TIMEOUT_0", "TIMEOUT_-5", "TIMEOUT_x"} {
		if _, err := ParseAction(bad); !errors.Is(err, ErrUnknownAction) {
			t.Errorf("ParseAction(%q) err = %v, want ErrUnknownAction", bad, err)
		}
	}
	if !(Action{Kind: Timeout, DurationS: 600}).Harsher(Action{Kind: Timeout, DurationS: 60}) || (Action{Kind: Warn}).Harsher(Action{Kind: Delete}) {
		t.Error("Harsher ordering wrong")
	}
}

func TestChatValues_AppendArgsMatchesValues(t *testing.T) {
	plain := Chat{MsgID: "m", RoomID: "1", Channel: "c", UserID: "2", Login: "l", DisplayName: "L", Text: "hi",
		IsAction: true, TmiSentTsMs: 1700000000000, ReceivedAtUs: 1700000000000123, Subscriber: true, SubMonths: 7,
		EmoteCount: 2, EmoteChars: 9}
	reply := plain
	reply.ReplyParentMsgID, reply.ReplyParentDisplayName = "p", "P, the parent" // a comma stays in its own field
	for _, tt := range []struct {
		name   string
		c      Chat
		fields int
	}{{"plain", plain, chatRequired}, {"reply", reply, chatRequired + 2}} {
		c := tt.c
		want := c.Values(nil)
		var v ChatValues
		c.Encode(&v)
		got := v.AppendArgs(nil)
		if len(got) != len(want) || len(want) != 2*tt.fields {
			t.Fatalf("%s: AppendArgs gave %d args, Values %d, want %d", tt.name, len(got), len(want), 2*tt.fields)
		}
		for i := range want {
			g := got[i]
			if p, ok := g.(*string); ok {
				g = *p
			}
			if g != want[i] {
				t.Errorf("%s: arg %d = %v, want %v", tt.name, i, g, want[i])
			}
		}
		m := map[string]any{}
		for i := 0; i < len(got); i += 2 {
			m[got[i].(string)] = got[i+1]
		}
		back, err := DecodeChat(m)
		if err != nil || back != c {
			t.Errorf("%s: DecodeChat(AppendArgs) = %+v, %v; want %+v", tt.name, back, err, c)
		}
	}
	// The wire form of the groups.
	m := toMap(t, plain.Values(nil))
	for f, w := range map[string]string{FieldSchemaVersion: "2", FieldTimes: "1700000000000,1700000000000123", FieldTrust: "0,0,0,1,7,0,0", FieldTextMeta: "1,2,9"} {
		if m[f] != w {
			t.Errorf("%s = %q, want %q", f, m[f], w)
		}
	}
	for _, f := range []string{FieldReplyMsgID, FieldReplyLogin, FieldReplyDisplay, FieldSourceRoomID, FieldTmiSentTs, FieldVIP} {
		if _, ok := m[f]; ok {
			t.Errorf("plain message has field %s", f)
		}
	}
}
