package event_test

import (
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
)

// flatAndMap returns an entry's values the two ways a reader may hand them
// to a decoder.
func flatAndMap(kv []any) (event.Fields, map[string]any) {
	f := make(event.Fields, len(kv))
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		f[i], f[i+1] = kv[i].(string), fmt.Sprint(kv[i+1])
		m[f[i]] = f[i+1]
	}
	return f, m
}

// TestDecodeFields_SameAsMap: the flat decoders give the same event and the
// same error as the map decoders, for valid entries, entries with fields in
// another order and entries missing a field.
func TestDecodeFields_SameAsMap(t *testing.T) {
	check := func(t *testing.T, name string, kv []any, fromFlat, fromMap func() (any, error)) {
		t.Helper()
		gf, ef := fromFlat()
		gm, em := fromMap()
		if !reflect.DeepEqual(gf, gm) || fmt.Sprint(ef) != fmt.Sprint(em) {
			t.Errorf("%s: flat %+v, %v; map %+v, %v", name, gf, ef, gm, em)
		}
	}
	variants := func(kv []any) map[string][]any {
		rev := make([]any, 0, len(kv))
		for i := len(kv) - 2; i >= 0; i -= 2 {
			rev = append(rev, kv[i], kv[i+1])
		}
		return map[string][]any{"wire order": kv, "reversed": rev, "first field missing": kv[2:], "last field missing": kv[:len(kv)-2]}
	}
	for name, d := range eventtest.Decisions() {
		for vname, kv := range variants(d.Values(nil)) {
			f, m := flatAndMap(kv)
			check(t, "decision "+name+" "+vname, kv,
				func() (any, error) { return event.DecodeDecisionFields(f) },
				func() (any, error) { return event.DecodeDecision(m) })
		}
	}
	for kind, md := range eventtest.Mods() {
		for vname, kv := range variants(md.Values(nil)) {
			f, m := flatAndMap(kv)
			check(t, "mod "+string(kind)+" "+vname, kv,
				func() (any, error) { return event.DecodeModFields(f) },
				func() (any, error) { return event.DecodeMod(m) })
		}
	}
	for _, x := range eventtest.Executions() {
		for vname, kv := range variants(x.Values(nil)) {
			f, m := flatAndMap(kv)
			check(t, "execution "+x.Status+" "+vname, kv,
				func() (any, error) { return event.DecodeExecutionFields(f) },
				func() (any, error) { return event.DecodeExecution(m) })
		}
	}
	for _, c := range eventtest.Chats() {
		kvs := variants(c.Values(nil))
		for vname, kv := range variants(eventtest.ChatV1Values(c)) {
			kvs["version 1 "+vname] = kv
		}
		for vname, kv := range kvs {
			f, m := flatAndMap(kv)
			check(t, "chat "+vname, kv,
				func() (any, error) { return event.DecodeChatFields(f) },
				func() (any, error) { return event.DecodeChat(m) })
		}
	}
}

// TestDecodeChat_Version1 decodes entries in the version 1 layout, which
// an ingest before version 2 wrote: the same event, and version 1's checks.
func TestDecodeChat_Version1(t *testing.T) {
	for name, in := range eventtest.Chats() {
		f, m := flatAndMap(eventtest.ChatV1Values(in))
		if m[event.FieldSchemaVersion] != "1" || m[event.FieldTmiSentTs] != fmt.Sprint(in.TmiSentTsMs) {
			t.Fatalf("not a version 1 entry: %v", m)
		}
		got, err := event.DecodeChatFields(f)
		if err != nil || got != in {
			t.Errorf("%s: DecodeChatFields(version 1) = %+v, %v; want %+v", name, got, err, in)
		}
	}
	for field, bad := range map[string]string{event.FieldTmiSentTs: "12x", event.FieldVIP: "yes", event.FieldEmoteCount: "many"} {
		_, m := flatAndMap(eventtest.ChatV1Values(eventtest.Chats()["plain"]))
		m[field] = bad
		var de *event.DecodeError
		if _, err := event.DecodeChat(m); !errors.As(err, &de) || de.Field != field {
			t.Errorf("version 1 with %s=%q: DecodeChat = %v, want DecodeError on it", field, bad, err)
		}
	}
}

func BenchmarkDecodeDecisionFields(b *testing.B) {
	d := eventtest.Decision()
	f, _ := flatAndMap(d.Values(nil))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := event.DecodeDecisionFields(f); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDecodeDecision_Version1 decodes every example decision in the
// version 1 layout, which a decide before version 2 wrote: the same
// decision from flat fields and from a map.
func TestDecodeDecision_Version1(t *testing.T) {
	for name, in := range eventtest.Decisions() {
		f, m := flatAndMap(eventtest.DecisionV1Values(in))
		if m[event.FieldSchemaVersion] != "1" || m[event.FieldReadAtUs] != fmt.Sprint(in.ReadAtUs) {
			t.Fatalf("not a version 1 entry: %v", m)
		}
		got, err := event.DecodeDecisionFields(f)
		if err != nil || !reflect.DeepEqual(got, in) {
			t.Errorf("%s: DecodeDecisionFields(version 1) = %+v, %v; want %+v", name, got, err, in)
		}
		if got, err := event.DecodeDecision(m); err != nil || !reflect.DeepEqual(got, in) {
			t.Errorf("%s: DecodeDecision(version 1) = %+v, %v; want %+v", name, got, err, in)
		}
	}
}
