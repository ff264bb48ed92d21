package event

import (
	"errors"
	"math"
	"math/rand/v2"
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
		{"schema_version", func(m map[string]any) { m[FieldSchemaVersion] = "3" }, FieldSchemaVersion},
		{"missing_ids", func(m map[string]any) { delete(m, FieldIDs) }, FieldIDs},
		{"short_ids", func(m map[string]any) { m[FieldIDs] = "3b6409df-21e6-5709-a625-3b23453dff20" }, FieldIDs},
		{"empty_decision_id", func(m map[string]any) { m[FieldIDs] = ",1-0" }, FieldDecisionID},
		{"missing_msg_id", func(m map[string]any) { delete(m, FieldMsgID) }, FieldMsgID},
		{"short_who", func(m map[string]any) { m[FieldWho] = "1,xyz,2" }, FieldWho},
		{"bad_escape", func(m map[string]any) { m[FieldWho] = "1,x%2Dz,2,abc" }, FieldWho},
		{"missing_decision", func(m map[string]any) { delete(m, FieldDecision) }, FieldDecision},
		{"short_decision", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,WARN,WARN,1,0,deterministic" }, FieldDecision},
		{"empty_action_final", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,WARN,,1,0,deterministic," }, FieldDecision},
		{"empty_path", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,WARN,WARN,1,0,," }, FieldDecision},
		{"bad_action", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,NUKE,WARN,1,0,deterministic," }, FieldDecision},
		{"bad_action_idx", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,WARN,WARN,x,0,deterministic," }, FieldDecision},
		{"bad_score", func(m map[string]any) { m[FieldDecision] = "high,WARN,WARN,WARN,1,0,deterministic," }, FieldDecision},
		{"bad_over_budget", func(m map[string]any) { m[FieldDecision] = "0.5,WARN,WARN,WARN,1,2,deterministic," }, FieldDecision},
		{"bad_trust_flag", func(m map[string]any) { m[FieldTrust] = "1,0,0,0,3,2,0,0,0" }, FieldTrust},
		{"short_times", func(m map[string]any) { m[FieldTimes] = "1,2,3,4" }, FieldTimes},
		{"short_versions", func(m map[string]any) { m[FieldVersions] = "fs-1,v1,abc" }, FieldVersions},
		{"bad_latency", func(m map[string]any) { m[FieldLatUs] = "1,2,3,4,5,z" }, FieldLatUs},
		{"bad_draw", func(m map[string]any) { m[FieldPolicy] = "0.1,draw,0,1,1,0,0,0,0,0" }, FieldPolicy},
		{"bad_explored", func(m map[string]any) { m[FieldPolicy] = "0.1,0.2,yes,1,1,0,0,0,0,0" }, FieldPolicy},
		{"short_probs", func(m map[string]any) { m[FieldPolicy] = "0.1,0.2,0,1,1" }, FieldPolicy},
		{"bad_prob", func(m map[string]any) { m[FieldPolicy] = "0.1,0.2,0,1,1,0,0,0,0,p" }, FieldPolicy},
		{"bad_features", func(m map[string]any) { m[FieldFeatures] = "1,x" }, FieldFeatures},
		{"short_snapshot", func(m map[string]any) { m[FieldSnapshot] = "deadbeef00c0ffee,1,2" }, FieldSnapshot},
		{"bad_hash", func(m map[string]any) { m[FieldSnapshot] = "zz,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0" }, FieldSnapshot},
		{"short_msg_features", func(m map[string]any) { m[FieldMsgFeatures] = "1,2" }, FieldMsgFeatures},
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

// TestDecision_Layout pins the wire form of schema 2.
func TestDecision_Layout(t *testing.T) {
	d := sampleDecision()
	d.Login = "a,b%c" // escaped in who
	m := toMap(t, d.Values(nil))
	want := map[string]string{
		FieldSchemaVersion: "2",
		FieldIDs:           "3b6409df-21e6-5709-a625-3b23453dff20,1700000000000-0",
		FieldMsgID:         "eb24e920-8065-492a-8aea-266a00fc5126",
		FieldWho:           "713936733,xyz,1,a%2Cb%25c",
		FieldTimes:         "1700000000000,1700000000001234,1700000000002000,1700000000002500,1700000000000",
		FieldTrust:         "1,1,1,1,13,1,1,1,1",
		FieldFeatures:      "0,1,0.1,2.0794415,1e-07,3.4028235e+38",
		FieldMsgFeatures:   "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,0.33333334",
		FieldSnapshot:      "deadbeef00c0ffee,7,1007,2007,1699999999999,4007,5007,6007,7007,8007,9007,10007,11007,12007,13007,14007,15007,16007,17007",
		FieldDecision:      "0.12345678901234568,TIMEOUT_600,TIMEOUT_600,WARN,1,1,explore,feature_store_timeout,escalation,cooldown",
		FieldVersions:      "fs-1,baseline-v1,0123456789ab,as-1",
		FieldPolicy:        "0.05,0.0123,1,0.025,0.025,0.95,0.025,0,0,0",
		FieldLatUs:         "1,2,300,4,5,400",
		FieldConsumer:      "host-0",
	}
	if len(m) != len(want) {
		t.Errorf("%d fields, want %d: %v", len(m), len(want), m)
	}
	for f, w := range want {
		if got := m[f]; got != w {
			t.Errorf("field %s = %q, want %q", f, got, w)
		}
	}
	got, err := DecodeDecision(m)
	if err != nil || got.Login != d.Login {
		t.Errorf("login after the round trip = %q (%v), want %q", got.Login, err, d.Login)
	}
}

// TestDecodeDecision_Version1 decodes an entry as a decide before schema 2
// wrote it (captured from that code for sampleDecision) and checks that
// version 1's own fields are still required and checked.
func TestDecodeDecision_Version1(t *testing.T) {
	v1 := []any{
		"schema_version", "1",
		"decision_id", "3b6409df-21e6-5709-a625-3b23453dff20",
		"src_id", "1700000000000-0",
		"msg_id", "eb24e920-8065-492a-8aea-266a00fc5126",
		"room_id", "713936733",
		"channel", "xyz",
		"user_id", "1",
		"login", "abc",
		"read_at_us", "1700000000002000",
		"times", "1700000000000,1700000000001234,1700000000002500,1700000000000",
		"trust", "1,1,1,1,13,1,1,1,1",
		"features", "0,1,0.1,2.0794415,1e-07,3.4028235e+38",
		"msg_features", "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,0.3333333432674408",
		"text_hash", "deadbeef00c0ffee",
		"snapshot", "7,1007,2007,1699999999999,4007,5007,6007,7007,8007,9007,10007,11007,12007,13007,14007,15007,16007,17007",
		"risk_score", "0.12345678901234568",
		"actions", "TIMEOUT_600,TIMEOUT_600,1",
		"action_final", "WARN",
		"clamp_rules", "escalation,cooldown",
		"over_budget", "1",
		"decision_path", "explore",
		"failure_reason", "feature_store_timeout",
		"versions", "fs-1,baseline-v1,0123456789ab,as-1",
		"explore", "0.05,0.0123,1,0.025",
		"probs", "0.025,0.95,0.025,0,0,0",
		"lat_us", "1,2,300,4,5,400",
		"consumer", "host-0",
	}
	want := sampleDecision()
	got, err := DecodeDecision(toMap(t, v1))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeDecision(version 1) =\n%+v\nwant\n%+v", got, want)
	}
	f := make(Fields, len(v1))
	for i, x := range v1 {
		f[i] = x.(string)
	}
	if got, err := DecodeDecisionFields(f); err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("DecodeDecisionFields(version 1) = %+v, %v", got, err)
	}
	for _, tt := range []struct{ field, value string }{
		{FieldDecisionID, ""}, {FieldActionFinal, ""}, {FieldDecisionPath, ""}, {FieldReadAtUs, "soon"},
		{fieldActionsV1, "WARN,NUKE,1"}, {fieldActionsV1, "WARN,WARN"}, {fieldExploreV1, "0.1,0.2,yes,1"},
		{FieldProbs, "1"}, {FieldTextHash, "zz"}, {FieldRiskScore, "high"}, {FieldOverBudget, "2"}, {FieldTimes, "1,2,3,4,5"},
	} {
		m := toMap(t, v1)
		if tt.value == "" {
			delete(m, tt.field)
		} else {
			m[tt.field] = tt.value
		}
		var de *DecodeError
		if _, err := DecodeDecision(m); !errors.As(err, &de) || de.Field != tt.field {
			t.Errorf("version 1 with %s=%q: DecodeDecision = %v, want *DecodeError for it", tt.field, tt.value, err)
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

// benchDecision is sampleDecision with a state vector of fs-1's length
// whose values are not whole numbers (the slower ones to format).
func benchDecision() Decision {
	d := sampleDecision()
	d.Features = make([]float32, FeatureSetFS1Len)
	for i := range d.Features {
		d.Features[i] = float32(i) / 7
	}
	return d
}

// BenchmarkDecision_Encode is the decision path's encoding: Encode into a
// reused DecisionValues (whose Field pairs decide writes to its RawConn).
func BenchmarkDecision_Encode(b *testing.B) {
	d := benchDecision()
	var v DecisionValues
	b.ReportAllocs()
	for b.Loop() {
		d.Encode(&v)
	}
}

// BenchmarkDecodeDecision decodes a realistic decision entry (44 features,
// 26 message features, clamp rules): the sink's largest CPU cost per row.
func BenchmarkDecodeDecision(b *testing.B) {
	d := benchDecision()
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

// TestFloatCache_SameAsEncode: encoding through a FloatCache gives the same
// values as without, for vectors that repeat values (hits), collide in the
// cache (evictions) and hold the float32 extremes.
func TestFloatCache_SameAsEncode(t *testing.T) {
	var c FloatCache
	rng := rand.New(rand.NewPCG(1, 2))
	common := []float32{0, 1, 0.5, float32(math.Log1p(3)), 11.366755, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32, 1e-7}
	hits := 0
	for range 3000 {
		d := sampleDecision()
		d.Features = make([]float32, 44)
		for i := range d.Features {
			if rng.IntN(3) == 0 {
				d.Features[i] = math.Float32frombits(rng.Uint32()&^(0xff<<23) | uint32(rng.IntN(250)+1)<<23) // finite
			} else {
				d.Features[i] = common[rng.IntN(len(common))]
			}
		}
		for i := msgRatioFrom; i < DecisionMsgFeatureLen; i++ {
			d.MsgFeatures[i] = float64(float32(rng.IntN(50)) / float32(rng.IntN(50)+1))
		}
		var plain, cached DecisionValues
		d.Encode(&plain)
		before := c.slots
		d.EncodeWith(&cached, &c)
		if plain != cached {
			t.Fatalf("EncodeWith = %q, Encode = %q", cached, plain)
		}
		for _, f := range d.Features {
			bits := math.Float32bits(f)
			if s := before[floatSlotOf(bits)]; s.n != 0 && s.bits == bits {
				hits++
			}
		}
	}
	if hits == 0 {
		t.Error("no value was found in the cache")
	}
}

// BenchmarkDecision_EncodeWith is BenchmarkDecision_Encode through a
// FloatCache that holds every value after the first round: the bound for
// a vector whose values all recur.
func BenchmarkDecision_EncodeWith(b *testing.B) {
	d := benchDecision()
	var v DecisionValues
	var c FloatCache
	b.ReportAllocs()
	for b.Loop() {
		d.EncodeWith(&v, &c)
	}
}
