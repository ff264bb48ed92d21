package event_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
)

func TestAction_JSON(t *testing.T) {
	for _, a := range append(event.DiscreteActions[:], event.Action{Kind: event.Timeout, DurationS: 120}) {
		b, err := json.Marshal(a)
		if want := `"` + a.String() + `"`; err != nil || string(b) != want {
			t.Errorf("Marshal(%v) = %s, %v, want %s", a, b, err, want)
		}
		var got event.Action
		if err := json.Unmarshal(b, &got); err != nil || got != a {
			t.Errorf("Unmarshal(%s) = %v, %v, want %v", b, got, err, a)
		}
	}
	for _, bad := range []event.Action{{Kind: event.Timeout}, {Kind: event.Timeout, DurationS: -5}, {Kind: event.Warn, DurationS: 5}, {Kind: 9}} {
		if b, err := json.Marshal(bad); !errors.Is(err, event.ErrUnknownAction) {
			t.Errorf("Marshal(%+v) = %s, %v, want ErrUnknownAction", bad, b, err)
		}
	}
	for _, bad := range []string{`"BAN"`, `"TIMEOUT_0"`, `""`, `null`, `3`} {
		var a event.Action
		if err := json.Unmarshal([]byte(bad), &a); err == nil {
			t.Errorf("Unmarshal(%s) = %v, want error", bad, a)
		}
	}
}

// keys returns the top-level property names of a JSON object.
func keys(t *testing.T, b []byte) map[string]json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("unmarshal %s: %v", b, err)
	}
	return m
}

func TestDecision_JSONForm(t *testing.T) {
	d := eventtest.DecisionBadInput()
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	m := keys(t, b)
	want := map[string]string{
		"schema_version": `"2"`, "text_hash": `"0000000000000000"`, "features": `[]`, "msg_features": `[]`,
		"clamp_rules": `[]`, "action_final": `"IGNORE"`, "snapshot": `[0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]`,
		"probs": `[1,0,0,0,0,0]`, "decision_path": `"fail_open"`, "feature_set": `""`, "tmi_sent_ts": `0`,
	}
	for k, v := range want {
		if got := string(m[k]); got != v {
			t.Errorf("%s = %s, want %s", k, got, v)
		}
	}
	// One property per value: the json tags plus schema_version.
	if n := reflect.TypeFor[event.Decision]().NumField() + 1; len(m) != n {
		t.Errorf("%d properties, want %d: %s", len(m), n, b)
	}
	d = eventtest.Decision()
	b, _ = json.Marshal(d)
	m = keys(t, b)
	if got := string(m["text_hash"]); got != `"00c0ffee0000beef"` {
		t.Errorf("text_hash = %s", got)
	}
	if got := string(m["action_deterministic"]); got != `"TIMEOUT_120"` {
		t.Errorf("action_deterministic = %s", got)
	}
}

func TestJSON_RoundTrip(t *testing.T) {
	check := func(name string, in, out any) {
		t.Helper()
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", name, err)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s: Unmarshal(%s): %v", name, b, err)
		}
		if got := reflect.ValueOf(out).Elem().Interface(); !reflect.DeepEqual(got, in) {
			t.Errorf("%s: round trip = %+v, want %+v", name, got, in)
		}
	}
	for name, d := range eventtest.Decisions() {
		// JSON has no nil list: [] reads back as an empty slice.
		if d.Features == nil {
			d.Features = []float32{}
		}
		if d.MsgFeatures == nil {
			d.MsgFeatures = []float64{}
		}
		if d.ClampRules == nil {
			d.ClampRules = []string{}
		}
		check("decision "+name, d, new(event.Decision))
	}
	for k, m := range eventtest.Mods() {
		check("mod "+string(k), m, new(event.Mod))
	}
	for s, x := range eventtest.Executions() {
		check("execution "+s, x, new(event.Execution))
	}
	for name, c := range eventtest.Chats() {
		check("chat "+name, c, new(event.Chat))
	}
}

func TestJSON_UnmarshalVersion(t *testing.T) {
	var de *event.DecodeError
	tests := []struct {
		name string
		in   any
		out  any
	}{
		{"decision", eventtest.Decision(), new(event.Decision)},
		{"mod", eventtest.Mods()[event.ModBan], new(event.Mod)},
		{"execution", eventtest.Executions()["success"], new(event.Execution)},
		{"chat", eventtest.Chats()["plain"], new(event.Chat)},
	}
	for _, tt := range tests {
		b, _ := json.Marshal(tt.in)
		cur := regexp.MustCompile(`"schema_version":"[0-9]+",?`).FindString(string(b))
		if cur == "" {
			t.Fatalf("%s: no schema_version in %s", tt.name, b)
		}
		other := strings.Replace(string(b), cur, `"schema_version":"9",`, 1)
		if err := json.Unmarshal([]byte(other), tt.out); !errors.As(err, &de) || de.Field != event.FieldSchemaVersion {
			t.Errorf("%s: Unmarshal(version 9) = %v, want DecodeError on schema_version", tt.name, err)
		}
		none := strings.Replace(string(b), cur, ``, 1)
		if err := json.Unmarshal([]byte(none), tt.out); !errors.As(err, &de) || de.Field != event.FieldSchemaVersion {
			t.Errorf("%s: Unmarshal(no version) = %v, want DecodeError on schema_version", tt.name, err)
		}
	}
	b, _ := json.Marshal(eventtest.Decision())
	bad := strings.Replace(string(b), `"00c0ffee0000beef"`, `"C0FFEE"`, 1)
	if err := json.Unmarshal([]byte(bad), new(event.Decision)); !errors.As(err, &de) || de.Field != event.FieldTextHash {
		t.Errorf("Unmarshal(bad text_hash) = %v, want DecodeError on text_hash", err)
	}
}

// TestChat_JSONVersion1 reads a chat's JSON form written as version 1: the
// same properties, so it is still accepted.
func TestChat_JSONVersion1(t *testing.T) {
	want := eventtest.Chats()["reply"]
	b, _ := json.Marshal(want)
	v1 := strings.Replace(string(b), `"schema_version":"`+event.ChatSchemaVersion+`"`, `"schema_version":"1"`, 1)
	if v1 == string(b) {
		t.Fatalf("no schema_version %q in %s", event.ChatSchemaVersion, b)
	}
	var got event.Chat
	if err := json.Unmarshal([]byte(v1), &got); err != nil || got != want {
		t.Errorf("Unmarshal(version 1) = %+v, %v; want %+v", got, err, want)
	}
}

// TestDecision_JSONVersion1 reads a decision's JSON form written as
// version 1: the same properties, so it is still accepted.
func TestDecision_JSONVersion1(t *testing.T) {
	want := eventtest.DecisionExplore()
	b, _ := json.Marshal(want)
	v1 := strings.Replace(string(b), `"schema_version":"`+event.DecisionSchemaVersion+`"`, `"schema_version":"1"`, 1)
	if v1 == string(b) {
		t.Fatalf("no schema_version %q in %s", event.DecisionSchemaVersion, b)
	}
	var got event.Decision
	if err := json.Unmarshal([]byte(v1), &got); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("Unmarshal(version 1) = %+v, %v; want %+v", got, err, want)
	}
}

func TestChat_JSONInvalidUTF8(t *testing.T) {
	c := eventtest.Chats()["plain"]
	c.Text = "a\xffb"
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(keys(t, b)["text"]); got != `"a\ufffdb"` {
		t.Errorf("text = %s, want the invalid byte replaced by U+FFFD", got)
	}
}
