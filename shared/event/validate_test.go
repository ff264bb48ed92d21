package event_test

import (
	"errors"
	"math"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
)

// wantField checks that err is a *ValidationError on field (or nil when
// field is "").
func wantField(t *testing.T, what string, err error, field string) {
	t.Helper()
	if field == "" {
		if err != nil {
			t.Errorf("%s: Validate = %v, want nil", what, err)
		}
		return
	}
	var ve *event.ValidationError
	if !errors.As(err, &ve) || ve.Field != field {
		t.Errorf("%s: Validate = %v, want a ValidationError on %q", what, err, field)
		return
	}
	if !errors.Is(err, event.ErrInvalid) || ve.Retryable() {
		t.Errorf("%s: error %v: want errors.Is ErrInvalid and not retryable", what, err)
	}
}

func TestExamples_Valid(t *testing.T) {
	for name, d := range eventtest.Decisions() {
		wantField(t, "decision "+name, d.Validate(), "")
	}
	for k, m := range eventtest.Mods() {
		wantField(t, "mod "+string(k), m.Validate(), "")
	}
	for s, x := range eventtest.Executions() {
		wantField(t, "execution "+s, x.Validate(), "")
	}
	for name, c := range eventtest.Chats() {
		wantField(t, "chat "+name, c.Validate(), "")
	}
}

func TestDecision_Validate(t *testing.T) {
	nan := math.NaN()
	tests := []struct {
		name  string
		base  func() event.Decision
		edit  func(d *event.Decision)
		field string
	}{
		{"ok", eventtest.Decision, func(d *event.Decision) {}, ""},
		{"uuid upper case", eventtest.Decision, func(d *event.Decision) { d.DecisionID = "EB24E920-8065-5492-8AEA-266A00FC5126" }, event.FieldDecisionID},
		{"uuid v4", eventtest.Decision, func(d *event.Decision) { d.DecisionID = "eb24e920-8065-492a-8aea-266a00fc5126" }, event.FieldDecisionID},
		{"empty decision_id", eventtest.Decision, func(d *event.Decision) { d.DecisionID = "" }, event.FieldDecisionID},
		{"src_id no seq", eventtest.Decision, func(d *event.Decision) { d.SrcID = "1700000000000-" }, event.FieldSrcID},
		{"src_id no ms", eventtest.Decision, func(d *event.Decision) { d.SrcID = "-1" }, event.FieldSrcID},
		{"src_id letters", eventtest.Decision, func(d *event.Decision) { d.SrcID = "17a-0" }, event.FieldSrcID},
		{"src_id two dashes", eventtest.Decision, func(d *event.Decision) { d.SrcID = "1-2-3" }, event.FieldSrcID},
		{"empty msg_id", eventtest.Decision, func(d *event.Decision) { d.MsgID = "" }, event.FieldMsgID},
		{"negative tmi_sent_ts is Twitch's", eventtest.Decision, func(d *event.Decision) { d.TmiSentTsMs = -5 }, ""},
		{"negative received_at_us", eventtest.Decision, func(d *event.Decision) { d.ReceivedAtUs = -1 }, event.FieldReceivedAtUs},
		{"no read_at_us", eventtest.Decision, func(d *event.Decision) { d.ReadAtUs = 0 }, event.FieldReadAtUs},
		{"no decided_at_us", eventtest.Decision, func(d *event.Decision) { d.DecidedAtUs = 0 }, event.FieldDecidedAtUs},
		{"no event_time_ms", eventtest.Decision, func(d *event.Decision) { d.EventTimeMs = 0 }, event.FieldEventTimeMs},
		{"negative sub_months", eventtest.Decision, func(d *event.Decision) { d.SubMonths = -1 }, event.FieldSubMonths},
		{"unknown feature set", eventtest.Decision, func(d *event.Decision) { d.FeatureSet = "fs-2" }, event.FieldFeatureSet},
		{"short vector", eventtest.Decision, func(d *event.Decision) { d.Features = d.Features[:43] }, event.FieldFeatures},
		{"vector without feature set", eventtest.Decision, func(d *event.Decision) { d.FeatureSet = "" }, event.FieldFeatures},
		{"NaN feature", eventtest.Decision, func(d *event.Decision) { d.Features[5] = float32(nan) }, event.FieldFeatures},
		{"Inf feature", eventtest.Decision, func(d *event.Decision) { d.Features[5] = float32(math.Inf(1)) }, event.FieldFeatures},
		{"25 msg features", eventtest.Decision, func(d *event.Decision) { d.MsgFeatures = d.MsgFeatures[:25] }, event.FieldMsgFeatures},
		{"no msg features", eventtest.Decision, func(d *event.Decision) { d.MsgFeatures = nil }, ""},
		{"NaN msg feature", eventtest.Decision, func(d *event.Decision) { d.MsgFeatures[0] = nan }, event.FieldMsgFeatures},
		{"risk above 1", eventtest.Decision, func(d *event.Decision) { d.RiskScore = 1.0000001 }, event.FieldRiskScore},
		{"risk NaN", eventtest.Decision, func(d *event.Decision) { d.RiskScore = nan }, event.FieldRiskScore},
		{"risk 1", eventtest.Decision, func(d *event.Decision) { d.RiskScore = 1 }, ""},
		{"TIMEOUT_0 requested", eventtest.Decision, func(d *event.Decision) { d.ActionDeterministic.DurationS = 0 }, event.FieldActionDeterministic},
		{"WARN with a length", eventtest.Decision, func(d *event.Decision) { d.ActionRequested = event.Action{Kind: event.Warn, DurationS: 5} }, event.FieldActionRequested},
		{"unknown kind", eventtest.Decision, func(d *event.Decision) { d.ActionRequested = event.Action{Kind: 9} }, event.FieldActionRequested},
		{"final not discrete", eventtest.Decision, func(d *event.Decision) { d.ActionFinal.DurationS = 120 }, event.FieldActionFinal},
		{"idx mismatch", eventtest.Decision, func(d *event.Decision) { d.ActionFinalIdx = 4 }, event.FieldActionFinalIdx},
		{"idx out of range", eventtest.Decision, func(d *event.Decision) { d.ActionFinalIdx = 6 }, event.FieldActionFinalIdx},
		{"bad rule name", eventtest.Decision, func(d *event.Decision) { d.ClampRules = []string{"Snap"} }, event.FieldClampRules},
		{"rule with comma", eventtest.Decision, func(d *event.Decision) { d.ClampRules = []string{"a,b"} }, event.FieldClampRules},
		{"empty rule", eventtest.Decision, func(d *event.Decision) { d.ClampRules = []string{""} }, event.FieldClampRules},
		{"duplicate rule", eventtest.Decision, func(d *event.Decision) { d.ClampRules = []string{"snap", "cooldown", "snap"} }, event.FieldClampRules},
		{"unknown path", eventtest.Decision, func(d *event.Decision) { d.Path = "guess" }, event.FieldDecisionPath},
		{"unknown reason", eventtest.DecisionStoreTimeout, func(d *event.Decision) { d.FailureReason = "oops" }, event.FieldFailureReason},
		{"fail_open without reason", eventtest.DecisionStoreTimeout, func(d *event.Decision) { d.FailureReason = "" }, event.FieldFailureReason},
		{"reason without fail_open", eventtest.Decision, func(d *event.Decision) { d.FailureReason = event.FailureBadInput }, event.FieldFailureReason},
		{"fail_open WARN", eventtest.DecisionStoreTimeout, func(d *event.Decision) { d.ActionFinal, d.ActionFinalIdx = event.DiscreteActions[1], 1 }, event.FieldActionFinal},
		{"policy version with comma", eventtest.Decision, func(d *event.Decision) { d.PolicyVersion = "v1,2" }, event.FieldPolicyVersion},
		{"clamp version upper", eventtest.Decision, func(d *event.Decision) { d.ClampVersion = "0123456789AB" }, event.FieldClampVersion},
		{"clamp version empty", eventtest.Decision, func(d *event.Decision) { d.ClampVersion = "" }, event.FieldClampVersion},
		{"action set as-2", eventtest.Decision, func(d *event.Decision) { d.ActionSet = "as-2" }, event.FieldActionSet},
		{"eps above 1", eventtest.Decision, func(d *event.Decision) { d.ExploreEps = 1.5 }, event.FieldExploreEps},
		{"draw 1", eventtest.Decision, func(d *event.Decision) { d.ExploreDraw = 1 }, event.FieldExploreDraw},
		{"draw negative", eventtest.Decision, func(d *event.Decision) { d.ExploreDraw = -0.1 }, event.FieldExploreDraw},
		{"behaviour_prob 0", eventtest.Decision, func(d *event.Decision) { d.BehaviourProb = 0 }, event.FieldBehaviourProb},
		{"behaviour_prob above 1", eventtest.Decision, func(d *event.Decision) { d.BehaviourProb = 1.01 }, event.FieldBehaviourProb},
		{"probs sum 1.001", eventtest.Decision, func(d *event.Decision) { d.Probs[5] = 0.001 }, event.FieldProbs},
		{"probs sum within tolerance", eventtest.Decision, func(d *event.Decision) { d.Probs[5] = 5e-7 }, ""},
		{"negative prob", eventtest.Decision, func(d *event.Decision) { d.Probs[0], d.Probs[1] = -0.1, 0.1+0.05/3 }, event.FieldProbs},
		{"NaN prob", eventtest.Decision, func(d *event.Decision) { d.Probs[5] = nan }, event.FieldProbs},
		{"negative latency", eventtest.Decision, func(d *event.Decision) { d.LatStoreUs = -1 }, event.FieldLatStoreUs},
		{"negative total", eventtest.Decision, func(d *event.Decision) { d.LatTotalUs = -1 }, event.FieldLatTotalUs},
		{"bad_input ok", eventtest.DecisionBadInput, func(d *event.Decision) {}, ""},
		{"bad_input with a vector", eventtest.DecisionBadInput, func(d *event.Decision) { d.Features = make([]float32, 44) }, event.FieldFeatures},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.base()
			tt.edit(&d)
			wantField(t, tt.name, d.Validate(), tt.field)
		})
	}
}

func TestMod_Validate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m *event.Mod)
		field string
	}{
		{"ok", func(m *event.Mod) {}, ""},
		{"unknown kind", func(m *event.Mod) { m.Kind = "explode" }, event.FieldKind},
		{"unknown source", func(m *event.Mod) { m.Source = "" }, event.FieldSource},
		{"empty channel", func(m *event.Mod) { m.Channel = "" }, event.FieldChannel},
		{"empty room_id is Twitch's", func(m *event.Mod) { m.RoomID = "" }, ""},
		{"negative duration", func(m *event.Mod) { m.DurationS = -1 }, event.FieldDurationS},
		{"raid over int32", func(m *event.Mod) { m.RaidViewers = math.MaxInt32 + 1 }, event.FieldRaidViewers},
		{"negative raid", func(m *event.Mod) { m.RaidViewers = -1 }, event.FieldRaidViewers},
		{"negative received_at_us", func(m *event.Mod) { m.ReceivedAtUs = -1 }, event.FieldReceivedAtUs},
	}
	for _, tt := range tests {
		m := eventtest.Mods()[event.ModTimeout]
		tt.edit(&m)
		wantField(t, tt.name, m.Validate(), tt.field)
	}
}

func TestExecution_Validate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(x *event.Execution)
		field string
	}{
		{"ok", func(x *event.Execution) {}, ""},
		{"decision_id not a UUID", func(x *event.Execution) { x.DecisionID = "d1" }, event.FieldDecisionID},
		{"TIMEOUT_0", func(x *event.Execution) { x.Action = event.Action{Kind: event.Timeout} }, event.FieldAction},
		{"unknown status", func(x *event.Execution) { x.Status = "maybe" }, event.FieldStatus},
		{"http 600", func(x *event.Execution) { x.HTTPStatus = 600 }, event.FieldHTTPStatus},
		{"negative attempts", func(x *event.Execution) { x.Attempts = -1 }, event.FieldAttempts},
		{"negative latency", func(x *event.Execution) { x.LatencyUs = -1 }, event.FieldLatencyUs},
		{"no executed_at_us", func(x *event.Execution) { x.ExecutedAtUs = 0 }, event.FieldExecutedAtUs},
	}
	for _, tt := range tests {
		x := eventtest.Executions()["success"]
		tt.edit(&x)
		wantField(t, tt.name, x.Validate(), tt.field)
	}
}

func TestChat_Validate(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(c *event.Chat)
		field string
	}{
		{"ok", func(c *event.Chat) {}, ""},
		{"empty msg_id", func(c *event.Chat) { c.MsgID = "" }, event.FieldMsgID},
		{"empty channel", func(c *event.Chat) { c.Channel = "" }, event.FieldChannel},
		{"negative received_at_us", func(c *event.Chat) { c.ReceivedAtUs = -1 }, event.FieldReceivedAtUs},
		{"negative sub_months", func(c *event.Chat) { c.SubMonths = -1 }, event.FieldSubMonths},
		{"negative emote_count", func(c *event.Chat) { c.EmoteCount = -1 }, event.FieldEmoteCount},
		{"negative emote_chars", func(c *event.Chat) { c.EmoteChars = -1 }, event.FieldEmoteChars},
		{"invalid UTF-8 is allowed", func(c *event.Chat) { c.Text = "\xff\xfe" }, ""},
	}
	for _, tt := range tests {
		c := eventtest.Chats()["plain"]
		tt.edit(&c)
		wantField(t, tt.name, c.Validate(), tt.field)
	}
}

// TestValidate_NoAllocs guards the sink's per-event path.
func TestValidate_NoAllocs(t *testing.T) {
	d, m, x, c := eventtest.Decision(), eventtest.Mods()[event.ModRaid], eventtest.Executions()["success"], eventtest.Chats()["reply"]
	got := testing.AllocsPerRun(100, func() {
		if d.Validate() != nil || m.Validate() != nil || x.Validate() != nil || c.Validate() != nil {
			t.Fatal("example does not validate")
		}
	})
	if got != 0 {
		t.Errorf("Validate allocs = %v, want 0", got)
	}
}

func BenchmarkDecision_Validate(b *testing.B) {
	for name, d := range map[string]event.Decision{"deterministic": eventtest.Decision(), "bad_input": eventtest.DecisionBadInput()} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := d.Validate(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkExecution_Validate(b *testing.B) {
	x := eventtest.Executions()["success"]
	b.ReportAllocs()
	for b.Loop() {
		if err := x.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMod_Validate(b *testing.B) {
	m := eventtest.Mods()[event.ModTimeout]
	b.ReportAllocs()
	for b.Loop() {
		if err := m.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}
