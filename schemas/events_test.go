package schemas

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
)

// instance marshals v and parses it the way the validator wants (numbers as
// json.Number, so int64 and float values are compared exactly).
func instance(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %T: %v", v, err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse %s: %v", b, err)
	}
	return inst
}

// example is one Go value and the schema it must satisfy.
type example struct {
	name   string
	schema string
	v      any
}

func examples() []example {
	var out []example
	for name, d := range eventtest.Decisions() {
		out = append(out, example{"decision " + name, LogEvent, d})
		if d.FeatureSet != "" {
			out = append(out, example{"state of " + name, State, map[string]any{"feature_set": d.FeatureSet, "features": d.Features}})
		}
	}
	for k, m := range eventtest.Mods() {
		out = append(out, example{"mod " + string(k), Mod, m})
	}
	for s, x := range eventtest.Executions() {
		out = append(out, example{"execution " + s, Execution, x})
	}
	for name, c := range eventtest.Chats() {
		out = append(out, example{"chat " + name, Chat, c})
	}
	out = append(out, example{"action set", Action, map[string]any{"action_set": event.ActionSetVersion, "actions": event.DiscreteActions}})
	return out
}

// TestExamples_Validate: examples built from the Go types (every decision
// path including fail-open bad_input, every mod kind, every execution
// status, chats, the state and the action set) validate.
func TestExamples_Validate(t *testing.T) {
	schemas := map[string]*jsonschema.Schema{}
	for _, n := range Names() {
		schemas[n] = compile(t, n)
	}
	seen := map[string]bool{}
	for _, ex := range examples() {
		seen[ex.schema] = true
		if err := schemas[ex.schema].Validate(instance(t, ex.v)); err != nil {
			t.Errorf("%s: %v", ex.name, err)
		}
	}
	for _, n := range Names() {
		if !seen[n] {
			t.Errorf("no example for schema %s", n)
		}
	}
}

// TestExamples_Mutated: mutated examples fail: every required property
// missing, an extra property, a wrong type, a wrong enum or const.
func TestExamples_Mutated(t *testing.T) {
	// One wrong value of each kind per schema: property -> value.
	wrongType := map[string]map[string]any{
		LogEvent:  {"risk_score": "0.5", "sub_months": 1.5, "explored": 0, "features": "1,2", "decision_id": 7, "snapshot": nil},
		Mod:       {"duration_s": "600", "channel": nil, "raid_viewers": 1.5},
		Execution: {"http_status": "200", "attempts": true, "error": nil},
		Chat:      {"is_action": "1", "tmi_sent_ts": "1700000000000", "text": 5},
		State:     {"features": map[string]any{}},
		Action:    {"actions": "IGNORE"},
	}
	wrongEnum := map[string]map[string]any{
		LogEvent:  {"decision_path": "guess", "failure_reason": "unknown", "action_final": "TIMEOUT_120", "schema_version": "1", "action_set": "as-2", "feature_set": "fs-2"},
		Mod:       {"kind": "explode", "source": "IRC", "schema_version": "2"},
		Execution: {"status": "maybe", "action": "BAN", "schema_version": "2"},
		Chat:      {"schema_version": "3"},
		State:     {"feature_set": "fs-2"},
		Action:    {"action_set": "as-2"},
	}
	for _, ex := range examples() {
		s := compile(t, ex.schema)
		base := instance(t, ex.v).(map[string]any)
		try := func(what string, edit func(m map[string]any)) {
			m := make(map[string]any, len(base)+1)
			for k, v := range base {
				m[k] = v
			}
			edit(m)
			if err := s.Validate(m); err == nil {
				t.Errorf("%s %s: valid, want invalid", ex.name, what)
			}
		}
		for k := range base {
			try("without "+k, func(m map[string]any) { delete(m, k) })
		}
		try("with an extra property", func(m map[string]any) { m["extra"] = 1 })
		for k, v := range wrongType[ex.schema] {
			try("with "+k+" of a wrong type", func(m map[string]any) { m[k] = v })
		}
		for k, v := range wrongEnum[ex.schema] {
			try("with "+k+" not in its enum/const", func(m map[string]any) { m[k] = v })
		}
	}
}

// validator is what the agreement test needs of an event type.
type validator interface{ Validate() error }

// checkAgreement asserts Validate and the JSON Schema agree on x: both
// accept or both reject. extraOK is what Validate checks beyond the schema
// (probs summing to 1); a value that cannot be marshalled (NaN, an action
// without a wire form) must fail Validate. It returns Validate's verdict.
func checkAgreement(t *testing.T, s *jsonschema.Schema, what string, x validator, extraOK bool) bool {
	t.Helper()
	verr := x.Validate()
	b, err := json.Marshal(x)
	if err != nil {
		if verr == nil {
			t.Errorf("%s: cannot marshal (%v) but Validate = nil", what, err)
		}
		return verr == nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: parse %s: %v", what, b, err)
	}
	serr := s.Validate(inst)
	if want := serr == nil && extraOK; (verr == nil) != want {
		t.Errorf("%s: Validate = %v, schema = %v (extra checks ok: %v)\n%s", what, verr, serr, extraOK, b)
	}
	return verr == nil
}

func pick[V any](r *rand.Rand, vs ...V) V { return vs[r.IntN(len(vs))] }

var nan, inf = math.NaN(), math.Inf(1)

// someActions are actions with and without a wire form.
var someActions = []event.Action{
	{}, {Kind: event.Warn}, {Kind: event.Delete}, {Kind: event.Timeout, DurationS: 60}, {Kind: event.Timeout, DurationS: 120},
	{Kind: event.Timeout, DurationS: math.MaxInt32}, {Kind: event.Timeout}, {Kind: event.Timeout, DurationS: -5},
	{Kind: event.Warn, DurationS: 5}, {Kind: 9},
}

func decisionMutators() []func(r *rand.Rand, d *event.Decision) {
	uuid := eventtest.Decision().DecisionID
	return []func(r *rand.Rand, d *event.Decision){
		func(r *rand.Rand, d *event.Decision) {
			d.DecisionID = pick(r, event.DecisionID("9-9", "x"), "", strings.ToUpper(uuid), uuid+"0", "eb24e920-8065-492a-8aea-266a00fc5126")
		},
		func(r *rand.Rand, d *event.Decision) {
			d.SrcID = pick(r, "0-0", "1700000000000-12", "", "1-", "-1", "a-1", "1-2-3")
		},
		func(r *rand.Rand, d *event.Decision) { d.MsgID = pick(r, "", "x") },
		func(r *rand.Rand, d *event.Decision) {
			d.RoomID, d.Channel, d.Login = pick(r, "", "1"), pick(r, "", "c"), pick(r, "", "l")
		},
		func(r *rand.Rand, d *event.Decision) {
			v := pick(r, int64(-1), 0, 1, math.MaxInt64, math.MinInt64)
			*pick(r, &d.TmiSentTsMs, &d.ReceivedAtUs, &d.ReadAtUs, &d.DecidedAtUs, &d.EventTimeMs) = v
		},
		func(r *rand.Rand, d *event.Decision) {
			p := pick(r, &d.Broadcaster, &d.Moderator, &d.VIP, &d.Subscriber, &d.FirstMsg, &d.ReturningChatter, &d.IsReply, &d.IsAction, &d.OverBudget, &d.Explored)
			*p = !*p
		},
		func(r *rand.Rand, d *event.Decision) { d.SubMonths = pick[int32](r, -1, 0, 7, math.MaxInt32) },
		func(r *rand.Rand, d *event.Decision) { d.FeatureSet = pick(r, "", "fs-1", "fs-2", "FS-1") },
		func(r *rand.Rand, d *event.Decision) {
			switch r.IntN(6) {
			case 0:
				d.Features = nil
			case 1:
				d.Features = make([]float32, pick(r, 43, 44, 45))
			case 2:
				d.Features = append(make([]float32, 43), float32(pick(r, nan, inf, -inf)))
			default:
				d.Features = append(make([]float32, 43), pick[float32](r, math.MaxFloat32, -math.MaxFloat32, 1e-45, -1))
			}
		},
		func(r *rand.Rand, d *event.Decision) {
			switch r.IntN(3) {
			case 0:
				d.MsgFeatures = nil
			case 1:
				d.MsgFeatures = make([]float64, pick(r, 1, 25, 26, 27))
			default:
				d.MsgFeatures = append(make([]float64, 25), pick(r, nan, inf, -1e300, 0.5))
			}
		},
		func(r *rand.Rand, d *event.Decision) { d.TextHash = r.Uint64() >> r.IntN(64) },
		func(r *rand.Rand, d *event.Decision) {
			d.Snapshot[r.IntN(event.DecisionSnapshotLen)] = pick(r, int64(-1), 0, math.MaxInt64, math.MinInt64)
		},
		func(r *rand.Rand, d *event.Decision) { d.RiskScore = pick(r, -0.1, 0, 0.5, 1, 1.0000001, nan, inf) },
		func(r *rand.Rand, d *event.Decision) { d.ActionDeterministic = pick(r, someActions...) },
		func(r *rand.Rand, d *event.Decision) { d.ActionRequested = pick(r, someActions...) },
		func(r *rand.Rand, d *event.Decision) {
			if r.IntN(2) == 0 {
				i := r.IntN(event.NumDiscreteActions)
				d.ActionFinal, d.ActionFinalIdx = event.DiscreteActions[i], i
				return
			}
			d.ActionFinal, d.ActionFinalIdx = pick(r, someActions...), pick(r, -1, 0, 1, 3, 5, 6)
		},
		func(r *rand.Rand, d *event.Decision) {
			d.ClampRules = pick(r, nil, []string{"snap"}, []string{"escalation", "cooldown"}, []string{"Snap"}, []string{"a,b"},
				[]string{""}, []string{"snap", "snap"}, []string{"x1_y"}, []string{"1x"})
		},
		func(r *rand.Rand, d *event.Decision) {
			d.Path = pick(r, append(event.DecisionPaths[:], "", "guess")...)
		},
		func(r *rand.Rand, d *event.Decision) {
			d.FailureReason = pick(r, append(event.FailureReasons[:], "oops")...)
		},
		func(r *rand.Rand, d *event.Decision) {
			// A consistent fail-open decision, or a consistent normal one.
			if r.IntN(2) == 0 {
				d.Path, d.FailureReason = event.PathFailOpen, pick(r, event.FailureReasons[1:]...)
				d.ActionFinal, d.ActionFinalIdx = event.Action{}, 0
			} else {
				d.Path, d.FailureReason = pick(r, event.PathDeterministic, event.PathExplore), ""
			}
		},
		func(r *rand.Rand, d *event.Decision) { d.PolicyVersion = pick(r, "", "v1", "a,b", "ü") },
		func(r *rand.Rand, d *event.Decision) {
			d.ClampVersion = pick(r, "0123456789ab", "", "0123456789AB", "abc", "0123456789abc")
		},
		func(r *rand.Rand, d *event.Decision) { d.ActionSet = pick(r, "as-1", "as-2", "") },
		func(r *rand.Rand, d *event.Decision) { d.ExploreEps = pick(r, -0.1, 0, 0.3, 1, 1.1, nan) },
		func(r *rand.Rand, d *event.Decision) {
			d.ExploreDraw = pick(r, -0.1, 0, 0.5, math.Nextafter(1, 0), 1, nan)
		},
		func(r *rand.Rand, d *event.Decision) { d.BehaviourProb = pick(r, 0, 1e-9, 0.5, 1, 1.1, -1, nan) },
		func(r *rand.Rand, d *event.Decision) {
			switch r.IntN(3) {
			case 0:
				d.Probs[r.IntN(event.NumDiscreteActions)] = pick(r, -0.1, 0, 0.5, 1, 1.5, nan, 1e-7)
			case 1:
				d.Probs = [event.NumDiscreteActions]float64{0.5, 0.25, 0.125, 0.0625, 0.03125, 0.03125}
			default:
				d.Probs = [event.NumDiscreteActions]float64{}
				d.Probs[r.IntN(event.NumDiscreteActions)] = 1
			}
		},
		func(r *rand.Rand, d *event.Decision) {
			*pick(r, &d.LatDecodeUs, &d.LatFeaturesUs, &d.LatStoreUs, &d.LatScoreUs, &d.LatClampUs, &d.LatTotalUs) = pick[int64](r, -1, 0, 5)
		},
		func(r *rand.Rand, d *event.Decision) { d.Consumer = pick(r, "", "x") },
	}
}

// TestDecision_ValidateAgreesWithSchema runs Validate and the JSON Schema
// on the examples and on random mutations of them.
func TestDecision_ValidateAgreesWithSchema(t *testing.T) {
	s := compile(t, LogEvent)
	r := rand.New(rand.NewPCG(1, 2))
	muts := decisionMutators()
	bases := eventtest.Decisions()
	names := make([]string, 0, len(bases))
	for n := range bases {
		names = append(names, n)
	}
	valid, total := 0, 0
	run := func(what string, d event.Decision) {
		var sum float64
		for _, p := range d.Probs {
			sum += p
		}
		if checkAgreement(t, s, what, &d, math.Abs(sum-1) <= event.ProbsSumTolerance) {
			valid++
		}
		total++
	}
	for _, n := range names {
		run("example "+n, bases[n])
	}
	for i := range 600 {
		base := pick(r, names...)
		d := bases[base]
		d.Features = append([]float32(nil), d.Features...)
		for range 1 + r.IntN(3) {
			pick(r, muts...)(r, &d)
		}
		run("mutation "+strconv.Itoa(i)+" of "+base, d)
	}
	t.Logf("%d of %d valid", valid, total)
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("%d of %d mutations valid: the mutations do not exercise both outcomes", valid, total)
	}
}

func TestMod_ValidateAgreesWithSchema(t *testing.T) {
	s := compile(t, Mod)
	r := rand.New(rand.NewPCG(3, 4))
	muts := []func(m *event.Mod){
		func(m *event.Mod) { m.Kind = pick(r, append(event.ModKinds[:], "", "explode")...) },
		func(m *event.Mod) { m.Source = pick(r, append(event.ModSources[:], "", "IRC")...) },
		func(m *event.Mod) { m.Channel = pick(r, "", "c") },
		func(m *event.Mod) {
			m.RoomID, m.TargetUserID, m.Text = pick(r, "", "1"), pick(r, "", "2"), pick(r, "", "\xff")
		},
		func(m *event.Mod) { m.DurationS = pick(r, int64(-1), 0, 600, math.MaxInt64) },
		func(m *event.Mod) { m.RaidViewers = pick(r, -1, 0, math.MaxInt32, math.MaxInt32+1) },
		func(m *event.Mod) { m.ReceivedAtUs = pick(r, int64(-1), 0, 1) },
		func(m *event.Mod) { m.TmiSentTsMs = pick(r, int64(-1), 0, math.MinInt64) },
	}
	valid, total := 0, 0
	for i := range 300 {
		m := eventtest.Mods()[pick(r, event.ModKinds[:]...)]
		if i > 0 {
			for range 1 + r.IntN(2) {
				pick(r, muts...)(&m)
			}
		}
		if checkAgreement(t, s, "mod "+string(m.Kind), &m, true) {
			valid++
		}
		total++
	}
	t.Logf("%d of %d valid", valid, total)
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("%d of %d mutations valid: the mutations do not exercise both outcomes", valid, total)
	}
}

func TestExecution_ValidateAgreesWithSchema(t *testing.T) {
	s := compile(t, Execution)
	r := rand.New(rand.NewPCG(5, 6))
	uuid := eventtest.Decision().DecisionID
	muts := []func(x *event.Execution){
		func(x *event.Execution) { x.DecisionID = pick(r, uuid, "", "d1", strings.ToUpper(uuid)) },
		func(x *event.Execution) { x.Action = pick(r, someActions...) },
		func(x *event.Execution) { x.Status = pick(r, append(event.ExecutionStatuses[:], "", "maybe")...) },
		func(x *event.Execution) { x.HTTPStatus = pick[int32](r, -1, 0, 200, 599, 600) },
		func(x *event.Execution) { x.Attempts = pick[int32](r, -1, 0, 3, math.MaxInt32) },
		func(x *event.Execution) { x.LatencyUs = pick(r, int64(-1), 0, 5) },
		func(x *event.Execution) { x.ExecutedAtUs = pick(r, int64(-5), 0, 1, math.MaxInt64) },
		func(x *event.Execution) { x.MsgID, x.Error = pick(r, "", "m"), pick(r, "", "boom") },
	}
	valid, total := 0, 0
	for i := range 300 {
		x := eventtest.Executions()[pick(r, event.ExecutionStatuses[:]...)]
		if i > 0 {
			for range 1 + r.IntN(2) {
				pick(r, muts...)(&x)
			}
		}
		if checkAgreement(t, s, "execution "+x.Status, &x, true) {
			valid++
		}
		total++
	}
	t.Logf("%d of %d valid", valid, total)
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("%d of %d mutations valid: the mutations do not exercise both outcomes", valid, total)
	}
}

func TestChat_ValidateAgreesWithSchema(t *testing.T) {
	s := compile(t, Chat)
	r := rand.New(rand.NewPCG(7, 8))
	muts := []func(c *event.Chat){
		func(c *event.Chat) { c.MsgID = pick(r, "", "m") },
		func(c *event.Chat) { c.Channel = pick(r, "", "c") },
		func(c *event.Chat) {
			c.RoomID, c.UserID, c.Text = pick(r, "", "1"), pick(r, "", "2"), pick(r, "", "\xff\xfe", "ok")
		},
		func(c *event.Chat) { c.ReceivedAtUs = pick(r, int64(-1), 0, 1) },
		func(c *event.Chat) { c.TmiSentTsMs = pick(r, int64(-1), 0, math.MaxInt64) },
		func(c *event.Chat) { c.SubMonths = pick(r, -1, 0, 5, math.MaxInt64) },
		func(c *event.Chat) { c.EmoteCount = pick(r, -1, 0, 5) },
		func(c *event.Chat) { c.EmoteChars = pick(r, -1, 0, 5) },
	}
	valid, total := 0, 0
	chats := eventtest.Chats()
	for i := range 200 {
		c := chats[pick(r, "plain", "action", "reply")]
		if i > 0 {
			for range 1 + r.IntN(2) {
				pick(r, muts...)(&c)
			}
		}
		if checkAgreement(t, s, "chat", &c, true) {
			valid++
		}
		total++
	}
	t.Logf("%d of %d valid", valid, total)
	if valid < total/10 || valid > total*9/10 {
		t.Errorf("%d of %d mutations valid: the mutations do not exercise both outcomes", valid, total)
	}
}
