package event

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func sampleDecision() Decision {
	d := Decision{
		DecisionID: DecisionID("1700000000000-0", "eb24e920-8065-492a-8aea-266a00fc5126"),
		SrcID:      "1700000000000-0", MsgID: "eb24e920-8065-492a-8aea-266a00fc5126", RoomID: "713936733", Channel: "xyz",
		UserID: "1", Login: "abc", TmiSentTsMs: 1700000000000, ReceivedAtUs: 1700000000001234, ReadAtUs: 1700000000002000,
		DecidedAtUs: 1700000000002500, EventTimeMs: 1700000000000,
		Broadcaster: true, Moderator: true, VIP: true, Subscriber: true, SubMonths: 13, FirstMsg: true, ReturningChatter: true, IsReply: true, IsAction: true,
		FeatureSet: "fs-1", Features: []float32{0, 1, 0.1, float32(math.Log1p(7)), 1e-7, 3.4028235e38},
		TextHash: 0xdeadbeef00c0ffee, RiskScore: 0.123456789012345678,
		ActionDeterministic: Action{Kind: Timeout, DurationS: 600}, ActionRequested: Action{Kind: Timeout, DurationS: 600},
		ActionFinal: Action{Kind: Warn}, ActionFinalIdx: 1, ClampRules: []string{"escalation", "cooldown"}, OverBudget: true,
		Path: PathExplore, FailureReason: FailureFeatureStoreTimeout, PolicyVersion: "baseline-v1", ClampVersion: "0123456789ab",
		ActionSet: ActionSetVersion, ExploreEps: 0.05, ExploreDraw: 0.0123, Explored: true, BehaviourProb: 0.025,
		Probs:       [NumDiscreteActions]float64{0.025, 0.95, 0.025, 0, 0, 0},
		LatDecodeUs: 1, LatFeaturesUs: 2, LatStoreUs: 300, LatScoreUs: 4, LatClampUs: 5, LatTotalUs: 400, Consumer: "host-0",
	}
	for i := range d.Snapshot {
		d.Snapshot[i] = int64(i*1000 + 7)
	}
	d.Snapshot[3] = 1699999999999
	d.MsgFeatures = make([]float64, DecisionMsgFeatureLen)
	for i := range d.MsgFeatures {
		d.MsgFeatures[i] = float64(i)
	}
	d.MsgFeatures[DecisionMsgFeatureLen-1] = float64(float32(1) / 3)
	return d
}

func TestDecision_RoundTrip(t *testing.T) {
	in := sampleDecision()
	kv := in.Values(nil)
	if got := len(kv) / 2; got != DecisionFields {
		t.Errorf("Values wrote %d fields, want DecisionFields = %d", got, DecisionFields)
	}
	got, err := DecodeDecision(toMap(t, kv))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("DecodeDecision(Values(x)) =\n%+v\nwant\n%+v", got, in)
	}
}

func TestDecision_RoundTripMinimal(t *testing.T) {
	in := Decision{DecisionID: "d", SrcID: "1-0", MsgID: "m", Path: PathFailOpen, FailureReason: FailureBadInput,
		ActionFinal: Action{}, BehaviourProb: 1, Probs: [NumDiscreteActions]float64{1}}
	got, err := DecodeDecision(toMap(t, in.Values(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, in) {
		t.Errorf("DecodeDecision(Values(x)) = %+v, want %+v", got, in)
	}
}

func TestDecodeDecision_Bad(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(map[string]any)
		field string
	}{
		{"schema_version", func(m map[string]any) { m[FieldSchemaVersion] = "2" }, FieldSchemaVersion},
		{"missing_decision_id", func(m map[string]any) { delete(m, FieldDecisionID) }, FieldDecisionID},
		{"missing_action_final", func(m map[string]any) { delete(m, FieldActionFinal) }, FieldActionFinal},
		{"bad_action", func(m map[string]any) { m[FieldActions] = "WARN,NUKE,1" }, FieldActions},
		{"bad_action_idx", func(m map[string]any) { m[FieldActions] = "WARN,WARN,x" }, FieldActions},
		{"short_actions", func(m map[string]any) { m[FieldActions] = "WARN,WARN" }, FieldActions},
		{"bad_trust_flag", func(m map[string]any) { m[FieldTrust] = "1,0,0,0,3,2,0,0,0" }, FieldTrust},
		{"short_times", func(m map[string]any) { m[FieldTimes] = "1,2,3" }, FieldTimes},
		{"short_versions", func(m map[string]any) { m[FieldVersions] = "fs-1,v1,abc" }, FieldVersions},
		{"bad_latency", func(m map[string]any) { m[FieldLatUs] = "1,2,3,4,5,z" }, FieldLatUs},
		{"bad_draw", func(m map[string]any) { m[FieldExplore] = "0.1,draw,0,1" }, FieldExplore},
		{"bad_features", func(m map[string]any) { m[FieldFeatures] = "1,x" }, FieldFeatures},
		{"short_snapshot", func(m map[string]any) { m[FieldSnapshot] = "1,2" }, FieldSnapshot},
		{"short_probs", func(m map[string]any) { m[FieldProbs] = "1" }, FieldProbs},
		{"short_msg_features", func(m map[string]any) { m[FieldMsgFeatures] = "1,2" }, FieldMsgFeatures},
		{"bad_hash", func(m map[string]any) { m[FieldTextHash] = "zz" }, FieldTextHash},
		{"bad_score", func(m map[string]any) { m[FieldRiskScore] = "high" }, FieldRiskScore},
		{"bad_bool", func(m map[string]any) { m[FieldExplore] = "0.1,0.2,yes,1" }, FieldExplore},
		{"bad_over_budget", func(m map[string]any) { m[FieldOverBudget] = "2" }, FieldOverBudget},
		{"wrong_type", func(m map[string]any) { m[FieldMsgID] = 5 }, FieldMsgID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sampleDecision()
			m := toMap(t, d.Values(nil))
			tt.edit(m)
			_, err := DecodeDecision(m)
			var de *DecodeError
			if !errors.As(err, &de) || de.Field != tt.field {
				t.Errorf("DecodeDecision = %v, want *DecodeError for field %q", err, tt.field)
			}
		})
	}
}

// TestDecision_Layout pins the wire form of the grouped fields.
func TestDecision_Layout(t *testing.T) {
	d := sampleDecision()
	m := toMap(t, d.Values(nil))
	want := map[string]string{
		FieldTimes:       "1700000000000,1700000000001234,1700000000002500,1700000000000",
		FieldReadAtUs:    "1700000000002000",
		FieldTrust:       "1,1,1,1,13,1,1,1,1",
		FieldActions:     "TIMEOUT_600,TIMEOUT_600,1",
		FieldActionFinal: "WARN",
		FieldVersions:    "fs-1,baseline-v1,0123456789ab,as-1",
		FieldExplore:     "0.05,0.0123,1,0.025",
		FieldLatUs:       "1,2,300,4,5,400",
		FieldClampRules:  "escalation,cooldown",
		FieldTextHash:    "deadbeef00c0ffee",
		FieldFeatures:    "0,1,0.1,2.0794415,1e-07,3.4028235e+38",
	}
	for f, w := range want {
		if got := m[f]; got != w {
			t.Errorf("field %s = %q, want %q", f, got, w)
		}
	}
}

// TestAppendFloat checks the whole-number fast path against strconv's
// shortest 'g' form, which the decision log has always used.
func TestAppendFloat(t *testing.T) {
	vals := []float64{0, math.Copysign(0, -1), 1, -1, 7, 999999, -999999, 1e6, 1e6 + 1, 123456.5, 0.25, 1e-7, 1e21, math.MaxFloat64,
		math.Inf(1), math.NaN(), float64(float32(1) / 3), 65535, 4294967296}
	for i := range 2000 {
		vals = append(vals, float64(i*7919%1000003)-500000, float64(i)/8)
	}
	for _, f := range vals {
		for _, bits := range []int{32, 64} {
			x := f
			if bits == 32 {
				x = float64(float32(f))
			}
			if got, want := string(appendFloat(nil, x, bits)), strconv.FormatFloat(x, 'g', -1, bits); got != want {
				t.Errorf("appendFloat(%v, %d) = %q, want %q", x, bits, got, want)
			}
		}
	}
}

func TestDecision_EncodeAllocs(t *testing.T) {
	d := sampleDecision()
	var v DecisionValues
	// One string holds all the values.
	if n := testing.AllocsPerRun(100, func() { d.Encode(&v) }); n != 1 {
		t.Errorf("Encode allocates %v times per decision, want 1", n)
	}
	got := toMap(t, d.Values(nil))
	if len(got) != DecisionFields {
		t.Fatalf("Values has %d fields, want %d", len(got), DecisionFields)
	}
	for i := range DecisionFields {
		if name, val := v.Field(i); got[name] != val {
			t.Errorf("Field(%d): %s = %q, Values has %q", i, name, val, got[name])
		}
	}
}

func TestDecodeDecision_UnknownFieldsIgnored(t *testing.T) {
	d := sampleDecision()
	m := toMap(t, d.Values(nil))
	m["from_the_future"] = "x"
	if _, err := DecodeDecision(m); err != nil {
		t.Errorf("DecodeDecision with an unknown field = %v, want nil", err)
	}
}

func TestDecisionID(t *testing.T) {
	// Reference values from Python's uuid.uuid5.
	if got, want := uuid5([16]byte{0x6b, 0xa7, 0xb8, 0x10, 0x9d, 0xad, 0x11, 0xd1, 0x80, 0xb4, 0x00, 0xc0, 0x4f, 0xd4, 0x30, 0xc8}, "www.example.com"),
		"2ed6657d-e927-568b-95e1-2665a8aea6a2"; got != want {
		t.Errorf("uuid5(DNS, www.example.com) = %s, want %s", got, want)
	}
	if got, want := DecisionID("1700000000000-0", "eb24e920-8065-492a-8aea-266a00fc5126"), "3b6409df-21e6-5709-a625-3b23453dff20"; got != want {
		t.Errorf("DecisionID = %s, want %s", got, want)
	}
	if DecisionID("1-0", "m") == DecisionID("1-1", "m") {
		t.Error("DecisionID does not depend on the entry id")
	}
}

func TestDecisionNames(t *testing.T) {
	for _, names := range [][]string{DecisionSnapshotNames[:], DecisionMsgFeatureNames[:]} {
		seen := map[string]bool{}
		for _, n := range names {
			if n == "" || strings.ContainsAny(n, ", ") || seen[n] {
				t.Errorf("bad or duplicate name %q", n)
			}
			seen[n] = true
		}
	}
}

// BenchmarkDecision_Encode is the decision path's encoding: Encode into a
// reused DecisionValues (whose Field pairs decide writes to its RawConn).
func BenchmarkDecision_Encode(b *testing.B) {
	d := sampleDecision()
	d.Features = make([]float32, 44)
	for i := range d.Features {
		d.Features[i] = float32(i) / 7
	}
	var v DecisionValues
	b.ReportAllocs()
	for b.Loop() {
		d.Encode(&v)
	}
}

// BenchmarkDecodeDecision decodes a realistic decision entry (44 features,
// 26 message features, clamp rules): the sink's largest CPU cost per row.
func BenchmarkDecodeDecision(b *testing.B) {
	d := sampleDecision()
	d.Features = make([]float32, 44)
	for i := range d.Features {
		d.Features[i] = float32(i) / 7
	}
	kv := d.Values(nil)
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeDecision(m); err != nil {
			b.Fatal(err)
		}
	}
}
