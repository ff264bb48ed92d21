package clamp

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

func TestLimits_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mod    func(*Limits)
		fields []string // FieldError fields expected, in order; nil = valid
	}{
		{"default", func(*Limits) {}, nil},
		{"zero_lengths_clamp_to_twitch", func(l *Limits) { l.MinTimeoutS, l.MaxTimeoutS, l.RaidMaxTimeoutS = 0, 0, -4 }, nil},
		{"huge_lengths_clamp_to_twitch", func(l *Limits) { l.MinTimeoutS, l.MaxTimeoutS = 2_000_000, 3_000_000 }, nil},
		{"min_above_max", func(l *Limits) { l.MinTimeoutS, l.MaxTimeoutS = 601, 600 }, []string{"min_timeout_s"}},
		{"bad_kinds", func(l *Limits) { l.MaxAction, l.VIPMax, l.SubMax, l.RaidFirstMsgMax = 4, 5, 6, 7 },
			[]string{"max_action", "vip_max", "sub_max", "raid_first_msg_max"}},
		{"fallback_timeout", func(l *Limits) { l.EscalationFallback = Kind(event.Timeout) }, []string{"escalation_fallback"}},
		{"fallback_ignore", func(l *Limits) { l.EscalationFallback = Kind(event.Ignore) }, []string{"escalation_fallback"}},
		{"negative_sub_months", func(l *Limits) { l.SubCapMonths = -1 }, []string{"sub_cap_months"}},
		{"zero_window", func(l *Limits) { l.WarnWindowMs = 0 }, []string{"warn_window_ms"}},
		{"zero_window_without_escalation", func(l *Limits) { l.WarnWindowMs, l.RequireWarn = 0, false }, nil},
		{"negative_window", func(l *Limits) { l.WarnWindowMs, l.RequireWarn = -1, false }, []string{"warn_window_ms"}},
		{"nan_score", func(l *Limits) { l.ExtremeScore = math.NaN() }, []string{"extreme_score"}},
		{"negative_score", func(l *Limits) { l.ExtremeScore = -0.1 }, []string{"extreme_score"}},
		{"score_above_one", func(l *Limits) { l.ExtremeScore = 2 }, nil},
		{"negative_cooldown", func(l *Limits) { l.CooldownMs = -1 }, []string{"cooldown_ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := DefaultLimits()
			tt.mod(&l)
			err := l.Validate()
			var got []string
			for _, e := range unjoin(err) {
				var fe *FieldError
				if !errors.As(e, &fe) || !errors.Is(e, ErrInvalidLimits) {
					t.Errorf("Validate() error %v is not a *FieldError wrapping ErrInvalidLimits", e)
					continue
				}
				got = append(got, fe.Field)
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("Validate() = %v, want errors for fields %v", err, tt.fields)
			}
		})
	}
}

func unjoin(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLimits_Normalized(t *testing.T) {
	l := Limits{MinTimeoutS: 0, MaxTimeoutS: 5_000_000, RaidMaxTimeoutS: -1}.Normalized()
	if l.MinTimeoutS != TwitchMinTimeoutS || l.MaxTimeoutS != TwitchMaxTimeoutS || l.RaidMaxTimeoutS != TwitchMinTimeoutS {
		t.Errorf("Normalized() = %+v, want lengths clamped into [1, 1209600]", l)
	}
}

func TestFieldError_Error(t *testing.T) {
	e := &FieldError{Channel: "forsen", Field: "cooldown_ms", Msg: "must be >= 0"}
	if got, want := e.Error(), "clamp: channel forsen limits: cooldown_ms: must be >= 0"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e.Channel = ""
	if got, want := e.Error(), "clamp: global limits: cooldown_ms: must be >= 0"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestConfig_JSON(t *testing.T) {
	const in = `{"global": {"max_timeout_s": 300, "vip_max": "IGNORE"},
		"channels": {"forsen": {"max_action": "DELETE"}, "xqc": {}}}`
	var cfg Config
	if err := json.Unmarshal([]byte(in), &cfg); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	g := DefaultLimits()
	g.MaxTimeoutS, g.VIPMax = 300, Kind(event.Ignore)
	forsen := g
	forsen.MaxAction = Kind(event.Delete)
	want := Config{Global: g, Channels: map[string]Limits{"forsen": forsen, "xqc": g}}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("Unmarshal(%s) = %+v, want %+v", in, cfg, want)
	}

	// Dump and load again: identical.
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	var again Config
	if err := json.Unmarshal(b, &again); err != nil || !reflect.DeepEqual(again, cfg) {
		t.Errorf("round trip of %s = %+v, %v, want %+v", b, again, err, cfg)
	}

	// An empty object is the default config.
	var empty Config
	if err := json.Unmarshal([]byte(`{}`), &empty); err != nil || !reflect.DeepEqual(empty, DefaultConfig()) {
		t.Errorf("Unmarshal({}) = %+v, %v, want DefaultConfig", empty, err)
	}

	for _, bad := range []string{
		`{"global": {"max_timeout": 1}}`,
		`{"channels": {"x": {"max_action": "BAN"}}}`,
		`{"globals": {}}`,
		`{"global": {"cooldown_ms": "10s"}}`,
		`[]`,
	} {
		var c Config
		if err := json.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("Unmarshal(%s) = %+v, nil, want an error", bad, c)
		}
	}
}

func TestDefaultLimits_JSON(t *testing.T) {
	b, err := json.Marshal(DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"max_action":"TIMEOUT","min_timeout_s":1,"max_timeout_s":600,"vip_max":"WARN","sub_cap_months":12,` +
		`"sub_max":"DELETE","require_warn":true,"warn_window_ms":3600000,"extreme_score":0.97,"escalation_fallback":"WARN",` +
		`"raid_max_timeout_s":60,"raid_first_msg_max":"DELETE","cooldown_ms":10000}`
	if string(b) != want {
		t.Errorf("Marshal(DefaultLimits()) =\n%s\nwant\n%s", b, want)
	}
	if _, err := json.Marshal(Limits{MaxAction: 9}); err == nil {
		t.Error("Marshal(Limits{MaxAction: 9}) succeeded, want an error")
	}
}

func TestRule_Names(t *testing.T) {
	if got := Rule(0).String(); got != "none" {
		t.Errorf("Rule(0).String() = %q, want none", got)
	}
	if got, want := (RuleVIPCap | RuleInvalid).String(), "invalid|vip_cap"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got, want := (RuleSnap | 1<<31).String(), "snap|Rule(0x80000000)"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	seen := map[string]bool{}
	for i := range numRules {
		r := Rule(1) << i
		names := r.Names(nil)
		if len(names) != 1 || names[0] == "" || seen[names[0]] {
			t.Fatalf("Rule(%#x).Names() = %v, want one new name", uint32(r), names)
		}
		seen[names[0]] = true
		if back, err := ParseRule(names[0]); err != nil || back != r {
			t.Errorf("ParseRule(%q) = %v, %v, want %v", names[0], back, err, r)
		}
	}
	all, err := ParseRules(AllRules.Names(nil))
	if err != nil || all != AllRules {
		t.Errorf("ParseRules(AllRules.Names()) = %v, %v, want AllRules", all, err)
	}
	if _, err := ParseRule("ban"); !errors.Is(err, ErrUnknownRule) {
		t.Errorf("ParseRule(ban) error = %v, want ErrUnknownRule", err)
	}
	buf := make([]string, 0, numRules)
	if n := testing.AllocsPerRun(100, func() { _ = AllRules.Names(buf[:0]) }); n != 0 {
		t.Errorf("Names allocates %v times per call, want 0", n)
	}
}

// TestRulesDoc keeps RULES.md in step with the code: every rule name and
// every JSON field of Limits must appear in it.
func TestRulesDoc(t *testing.T) {
	b, err := os.ReadFile("RULES.md")
	if err != nil {
		t.Fatalf("read RULES.md: %v", err)
	}
	doc := string(b)
	for _, n := range AllRules.Names(nil) {
		if !strings.Contains(doc, "`"+n+"`") {
			t.Errorf("RULES.md does not mention rule `%s`", n)
		}
	}
	typ := reflect.TypeFor[Limits]()
	for i := range typ.NumField() {
		tag := typ.Field(i).Tag.Get("json")
		if !strings.Contains(doc, "`"+tag+"`") {
			t.Errorf("RULES.md does not mention limit `%s`", tag)
		}
	}
}
