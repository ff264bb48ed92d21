package schemas

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// raw returns schema name parsed as plain JSON.
func raw(t *testing.T, name string) map[string]any {
	t.Helper()
	b, err := File(name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return m
}

// at walks a parsed JSON document along keys (object keys or, for arrays,
// decimal indexes).
func at(t *testing.T, doc any, keys ...string) any {
	t.Helper()
	v := doc
	for i, k := range keys {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			n := 0
			for _, c := range k {
				n = n*10 + int(c-'0')
			}
			if n >= len(x) {
				t.Fatalf("%s: index %d out of range", strings.Join(keys[:i+1], "/"), n)
			}
			v = x[n]
		default:
			t.Fatalf("%s: not an object or array", strings.Join(keys[:i], "/"))
		}
	}
	return v
}

func strs(t *testing.T, v any) []string {
	t.Helper()
	a, ok := v.([]any)
	if !ok {
		t.Fatalf("%v is not an array", v)
	}
	out := make([]string, len(a))
	for i, x := range a {
		out[i], _ = x.(string)
	}
	return out
}

func TestNames(t *testing.T) {
	want := []string{Action, Chat, Execution, LogEvent, Mod, State}
	if got := Names(); !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v", got, want)
	}
	if _, err := File("nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("File(nope) = %v, want ErrUnknown", err)
	}
	if _, err := Compile("nope"); !errors.Is(err, ErrUnknown) {
		t.Errorf("Compile(nope) = %v, want ErrUnknown", err)
	}
}

// TestVersions: each $id carries the version that the documents carry
// (schema_version, feature_set, action_set const) and that the Go
// constants name.
func TestVersions(t *testing.T) {
	tests := []struct {
		name, versionProp, goVersion string
	}{
		{Chat, "schema_version", event.ChatSchemaVersion},
		{Mod, "schema_version", event.ModSchemaVersion},
		{LogEvent, "schema_version", event.DecisionSchemaVersion},
		{Execution, "schema_version", event.ExecutionSchemaVersion},
		{State, "feature_set", event.FeatureSetFS1},
		{Action, "action_set", event.ActionSetVersion},
	}
	for _, tt := range tests {
		v, err := Version(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := ID(tt.name)
		if want := BaseURL + tt.name + "/" + v + ".json"; id != want {
			t.Errorf("%s: $id = %q, want %q", tt.name, id, want)
		}
		doc := raw(t, tt.name)
		if got := at(t, doc, "properties", tt.versionProp, "const"); got != v {
			t.Errorf("%s: %s const = %v, want the $id version %q", tt.name, tt.versionProp, got, v)
		}
		if !slices.Contains(strs(t, at(t, doc, "required")), tt.versionProp) {
			t.Errorf("%s: %s is not required", tt.name, tt.versionProp)
		}
		if v != tt.goVersion {
			t.Errorf("%s: version %q, Go constant %q", tt.name, v, tt.goVersion)
		}
		if got := at(t, doc, "$schema"); got != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema = %v, want draft 2020-12", tt.name, got)
		}
	}
}

// TestNoNetwork: a $ref to something that is not embedded fails to compile
// instead of being fetched.
func TestNoNetwork(t *testing.T) {
	c, err := compiler()
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]any{"$ref": "https://example.com/other.json"}
	if err := c.AddResource(BaseURL+"test/1.json", doc); err != nil {
		t.Fatal(err)
	}
	_, err = c.Compile(BaseURL + "test/1.json")
	if err == nil || !strings.Contains(err.Error(), "not an embedded schema") {
		t.Errorf("Compile(ref to example.com) = %v, want a not-embedded error", err)
	}
}

// TestSchemas_Strict: every property of every object schema is typed (or a
// $ref/const to a typed definition) and described, objects forbid
// additional properties, require every property and nothing is nullable.
func TestSchemas_Strict(t *testing.T) {
	for _, name := range Names() {
		doc := raw(t, name)
		if at(t, doc, "additionalProperties") != false {
			t.Errorf("%s: additionalProperties is not false", name)
		}
		props := at(t, doc, "properties").(map[string]any)
		req := strs(t, at(t, doc, "required"))
		for p, v := range props {
			s := v.(map[string]any)
			if _, ok := s["description"].(string); !ok {
				t.Errorf("%s.%s: no description", name, p)
			}
			_, typed := s["type"]
			_, ref := s["$ref"]
			if !typed && !ref {
				t.Errorf("%s.%s: no type", name, p)
			}
			if ty, ok := s["type"].([]any); ok || ty != nil {
				t.Errorf("%s.%s: type %v: want one type (nothing is nullable)", name, p, s["type"])
			}
			if s["type"] == "null" {
				t.Errorf("%s.%s: nullable", name, p)
			}
			if !slices.Contains(req, p) {
				t.Errorf("%s.%s: not required", name, p)
			}
		}
		if len(req) != len(props) {
			t.Errorf("%s: %d required, %d properties", name, len(req), len(props))
		}
	}
}

// TestEnums: the schemas' enumerations and lengths are the Go ones.
func TestEnums(t *testing.T) {
	le, mod, ex, act, st := raw(t, LogEvent), raw(t, Mod), raw(t, Execution), raw(t, Action), raw(t, State)
	var actions []string
	for _, a := range event.DiscreteActions {
		actions = append(actions, a.String())
	}
	asStrings := func(v any) []string {
		var out []string
		for _, x := range reflect.ValueOf(v).Seq2() {
			out = append(out, x.String())
		}
		return out
	}
	tests := []struct {
		name      string
		got, want []string
	}{
		{"mod kind", strs(t, at(t, mod, "properties", "kind", "enum")), asStrings(event.ModKinds)},
		{"mod source", strs(t, at(t, mod, "properties", "source", "enum")), event.ModSources[:]},
		{"execution status", strs(t, at(t, ex, "properties", "status", "enum")), event.ExecutionStatuses[:]},
		{"decision_path", strs(t, at(t, le, "properties", "decision_path", "enum")), asStrings(event.DecisionPaths)},
		{"failure_reason", strs(t, at(t, le, "properties", "failure_reason", "enum")), event.FailureReasons[:]},
		{"fail_open reasons", strs(t, at(t, le, "allOf", "1", "then", "properties", "failure_reason", "enum")), event.FailureReasons[1:]},
		{"discrete actions", strs(t, at(t, act, "$defs", "discrete_action", "enum")), actions},
		{"feature sets", strs(t, at(t, le, "properties", "feature_set", "enum")), []string{"", event.FeatureSetFS1}},
	}
	for _, tt := range tests {
		if !slices.Equal(tt.got, tt.want) {
			t.Errorf("%s: schema %q, Go %q", tt.name, tt.got, tt.want)
		}
	}
	for i, a := range actions {
		if got := at(t, act, "properties", "actions", "prefixItems", string(rune('0'+i)), "const"); got != a {
			t.Errorf("action.json actions[%d] = %v, want %s", i, got, a)
		}
		pair := at(t, le, "allOf", "2", "oneOf", string(rune('0'+i)), "properties").(map[string]any)
		if at(t, pair, "action_final", "const") != a || at(t, pair, "action_final_idx", "const") != float64(i) {
			t.Errorf("log_event action_final pair %d = %v, want %s/%d", i, pair, a, i)
		}
	}
	nums := []struct {
		name string
		got  any
		want int
	}{
		{"actions", at(t, act, "properties", "actions", "minItems"), event.NumDiscreteActions},
		{"max action index", at(t, act, "$defs", "discrete_index", "maximum"), event.NumDiscreteActions - 1},
		{"probs", at(t, le, "properties", "probs", "maxItems"), event.NumDiscreteActions},
		{"snapshot", at(t, le, "properties", "snapshot", "maxItems"), event.DecisionSnapshotLen},
		{"msg_features", at(t, le, "properties", "msg_features", "anyOf", "1", "maxItems"), event.DecisionMsgFeatureLen},
		{"fs-1 min", at(t, st, "$defs", "features", "minItems"), event.FeatureSetFS1Len},
		{"fs-1 max", at(t, st, "$defs", "features", "maxItems"), event.FeatureSetLen(event.FeatureSetFS1)},
	}
	for _, n := range nums {
		if n.got != float64(n.want) {
			t.Errorf("%s: schema %v, Go %d", n.name, n.got, n.want)
		}
	}
}

// TestState_FeatureSet ties state.json to features/fs-1.json, the names
// decide builds the vector from.
func TestState_FeatureSet(t *testing.T) {
	names, err := FeatureSet(event.FeatureSetFS1)
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != event.FeatureSetFS1Len {
		t.Errorf("features/fs-1.json has %d names, want %d", len(names), event.FeatureSetFS1Len)
	}
	v, _ := Version(State)
	if _, err := FeatureSet(v); err != nil {
		t.Errorf("state.json version %q has no features/%s.json: %v", v, v, err)
	}
	if _, err := FeatureSet("fs-0"); !errors.Is(err, ErrUnknown) {
		t.Errorf("FeatureSet(fs-0) = %v, want ErrUnknown", err)
	}
}

// typeProblems compares Go type typ with object schema s: every exported
// field must have a plain json name that s declares, and every property
// of s must be a field (or schema_version, which MarshalJSON adds).
func typeProblems(s *jsonschema.Schema, typ reflect.Type) []string {
	var out []string
	fields := []string{event.FieldSchemaVersion}
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("json")
		if tag == "" || tag == "-" || strings.Contains(tag, ",") {
			out = append(out, fmt.Sprintf("field %s has json tag %q, want a plain property name (every field is in the JSON form)", f.Name, tag))
			continue
		}
		fields = append(fields, tag)
		if _, ok := s.Properties[tag]; !ok {
			out = append(out, fmt.Sprintf("field %s (%q) is not a schema property", f.Name, tag))
		}
	}
	for p := range s.Properties {
		if !slices.Contains(fields, p) {
			out = append(out, fmt.Sprintf("schema property %q is not a field", p))
		}
	}
	for _, p := range s.Required {
		if !slices.Contains(fields, p) {
			out = append(out, fmt.Sprintf("required property %q is not a field", p))
		}
	}
	slices.Sort(out)
	return out
}

func compile(t *testing.T, name string) *jsonschema.Schema {
	t.Helper()
	s, err := Compile(name)
	if err != nil {
		t.Fatalf("Compile(%s): %v", name, err)
	}
	return s
}

// TestGoTypes_MatchSchemas: every JSON field of each Go event type is a
// property of its schema, and every property of the schema is a Go field
// (or schema_version, which MarshalJSON adds).
func TestGoTypes_MatchSchemas(t *testing.T) {
	tests := []struct {
		schema string
		typ    reflect.Type
	}{
		{Chat, reflect.TypeFor[event.Chat]()},
		{Mod, reflect.TypeFor[event.Mod]()},
		{LogEvent, reflect.TypeFor[event.Decision]()},
		{Execution, reflect.TypeFor[event.Execution]()},
	}
	for _, tt := range tests {
		for _, p := range typeProblems(compile(t, tt.schema), tt.typ) {
			t.Errorf("%s vs schemas/%s.json: %s", tt.typ, tt.schema, p)
		}
	}
}

// TestTypeProblems makes sure the check above fails when it should.
func TestTypeProblems(t *testing.T) {
	type execution struct { // event.Execution with changes
		DecisionID   string       `json:"decision_id"`
		MsgID        string       `json:"msg_id"`
		RoomID       string       `json:"room_id,omitempty"`
		UserID       string       `json:"user_id"`
		Action       event.Action `json:"action"`
		Status       string       `json:"status"`
		HTTPStatus   int32        `json:"http_status"`
		Attempts     int32        `json:"attempts"`
		LatencyUs    int64        `json:"latency_us"`
		ExecutedAtUs int64        `json:"executed_at_us"`
		Extra        string       `json:"extra"`
		internal     int
	}
	_ = execution{}.internal
	got := typeProblems(compile(t, Execution), reflect.TypeFor[execution]())
	want := []string{
		`field Extra ("extra") is not a schema property`,
		`field RoomID has json tag "room_id,omitempty", want a plain property name (every field is in the JSON form)`,
		`required property "error" is not a field`,
		`required property "room_id" is not a field`,
		`schema property "error" is not a field`,
		`schema property "room_id" is not a field`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("typeProblems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
