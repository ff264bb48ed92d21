package clamp

import (
	"errors"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

const nowMs = 1_700_000_000_000

var (
	ignore = event.Action{Kind: event.Ignore}
	warn   = event.Action{Kind: event.Warn}
	del    = event.Action{Kind: event.Delete}
)

func to(s int32) event.Action { return event.Action{Kind: event.Timeout, DurationS: s} }

// testLimits returns the global limits and channel overrides the rule table
// uses.
func testLimits() (Limits, map[string]Limits) {
	g := DefaultLimits()
	with := func(f func(*Limits)) Limits { l := g; f(&l); return l }
	return g, map[string]Limits{
		"nodel":    with(func(l *Limits) { l.MaxAction = Kind(event.Delete) }),
		"off":      with(func(l *Limits) { l.MaxAction = Kind(event.Ignore) }),
		"long":     with(func(l *Limits) { l.MinTimeoutS, l.MaxTimeoutS = 600, 3600 }),
		"tiny":     with(func(l *Limits) { l.MaxTimeoutS = 30 }),
		"nosubcap": with(func(l *Limits) { l.SubCapMonths = 0 }),
		"raid30":   with(func(l *Limits) { l.RaidMaxTimeoutS = 30 }),
		"fbdelete": with(func(l *Limits) { l.EscalationFallback = Kind(event.Delete) }),
		"nowarn":   with(func(l *Limits) { l.RequireWarn = false }),
		"nocool":   with(func(l *Limits) { l.CooldownMs = 0 }),
		"vipfree":  with(func(l *Limits) { l.VIPMax = Kind(event.Timeout) }),
	}
}

func newTestClamp(t testing.TB) *Clamp {
	t.Helper()
	g, ch := testLimits()
	c, err := New(g, ch)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// base is a quiet context: an ordinary chatter warned 30 min ago (so the
// escalation rule is satisfied), last actioned at that warn (no cooldown).
func base(req event.Action) Input {
	return Input{Requested: req, Score: 0.5, NowMs: nowMs, LastWarnMs: nowMs - 30*60_000, LastActionMs: nowMs - 30*60_000}
}

func TestApply_Rules(t *testing.T) {
	c := newTestClamp(t)
	mod := func(req event.Action, f func(*Input)) Input { in := base(req); f(&in); return in }
	tests := []struct {
		name    string
		channel string
		in      Input
		want    Result
	}{
		{"pass_timeout", "", base(to(600)), Result{Final: to(600)}},
		{"pass_ignore", "", base(ignore), Result{Final: ignore}},

		// invalid
		{"invalid_kind", "", base(event.Action{Kind: 9}), Result{Final: ignore, Rules: RuleInvalid}},
		{"invalid_timeout_zero", "", base(to(0)), Result{Final: ignore, Rules: RuleInvalid}},
		{"invalid_timeout_negative", "", base(to(-5)), Result{Final: ignore, Rules: RuleInvalid}},
		{"invalid_length_on_delete", "", base(event.Action{Kind: event.Delete, DurationS: 30}), Result{Final: ignore, Rules: RuleInvalid}},
		{"invalid_for_broadcaster", "", mod(to(-1), func(in *Input) { in.Broadcaster = true }), Result{Final: ignore, Rules: RuleInvalid}},

		// latency_fallback
		{"latency_to_deterministic", "", mod(to(600), func(in *Input) {
			in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, del
		}), Result{Final: del, Rules: RuleLatencyFallback}},
		{"latency_no_deterministic", "", mod(warn, func(in *Input) { in.OverBudget = true }), Result{Final: ignore, Rules: RuleLatencyFallback}},
		{"latency_never_escalates", "", mod(warn, func(in *Input) {
			in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, to(600)
		}), Result{Final: warn}},
		{"latency_invalid_deterministic", "", mod(del, func(in *Input) {
			in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, event.Action{Kind: 7}
		}), Result{Final: ignore, Rules: RuleLatencyFallback | RuleInvalid}},
		{"latency_deterministic_snapped", "", mod(to(600), func(in *Input) {
			in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, to(300)
		}), Result{Final: to(60), Rules: RuleLatencyFallback | RuleSnap}},
		{"in_budget_ignores_deterministic", "", mod(to(600), func(in *Input) {
			in.HasDeterministic, in.Deterministic = true, ignore
		}), Result{Final: to(600)}},

		// trust
		{"broadcaster", "", mod(to(600), func(in *Input) { in.Broadcaster = true }), Result{Final: ignore, Rules: RuleTrustBroadcaster}},
		{"broadcaster_and_moderator", "", mod(warn, func(in *Input) { in.Broadcaster, in.Moderator = true, true }),
			Result{Final: ignore, Rules: RuleTrustBroadcaster | RuleTrustModerator}},
		{"moderator_delete", "", mod(del, func(in *Input) { in.Moderator = true }), Result{Final: ignore, Rules: RuleTrustModerator}},
		{"moderator_extreme_score", "", mod(to(600), func(in *Input) { in.Moderator, in.Score = true, 1 }), Result{Final: ignore, Rules: RuleTrustModerator}},
		{"moderator_ignore_no_rule", "", mod(ignore, func(in *Input) { in.Moderator = true }), Result{Final: ignore}},

		// max_action
		{"max_delete", "nodel", base(to(600)), Result{Final: del, Rules: RuleMaxAction}},
		{"max_delete_passes_delete", "nodel", base(del), Result{Final: del}},
		{"max_ignore", "off", base(warn), Result{Final: ignore, Rules: RuleMaxAction}},
		{"unknown_channel_uses_global", "elsewhere", base(to(600)), Result{Final: to(600)}},

		// timeout_bounds
		{"over_max", "", base(to(3600)), Result{Final: to(600), Rules: RuleTimeoutBounds}},
		{"far_over_max", "", base(to(86400)), Result{Final: to(600), Rules: RuleTimeoutBounds}},
		{"over_twitch_max", "long", base(to(2_000_000)), Result{Final: to(3600), Rules: RuleTimeoutBounds}},
		{"under_min_becomes_delete", "long", base(to(60)), Result{Final: del, Rules: RuleTimeoutBounds}},
		{"max_below_shortest", "tiny", base(to(60)), Result{Final: del, Rules: RuleTimeoutBounds | RuleSnap}},

		// vip_cap
		{"vip_timeout", "", mod(to(600), func(in *Input) { in.VIP = true }), Result{Final: warn, Rules: RuleVIPCap}},
		{"vip_delete", "", mod(del, func(in *Input) { in.VIP = true }), Result{Final: warn, Rules: RuleVIPCap}},
		{"vip_warn", "", mod(warn, func(in *Input) { in.VIP = true }), Result{Final: warn}},
		{"vip_cap_disabled", "vipfree", mod(to(60), func(in *Input) { in.VIP = true }), Result{Final: to(60)}},

		// subscriber_cap
		{"sub_12_months", "", mod(to(600), func(in *Input) { in.SubMonths = 12 }), Result{Final: del, Rules: RuleSubscriberCap}},
		{"sub_11_months", "", mod(to(600), func(in *Input) { in.SubMonths = 11 }), Result{Final: to(600)}},
		{"sub_cap_disabled", "nosubcap", mod(to(600), func(in *Input) { in.SubMonths = 100 }), Result{Final: to(600)}},

		// raid_cap
		{"raid_shortens", "", mod(to(600), func(in *Input) { in.RaidActive = true }), Result{Final: to(60), Rules: RuleRaidCap}},
		{"raid_shortest_passes", "", mod(to(60), func(in *Input) { in.RaidActive = true }), Result{Final: to(60)}},
		{"raid_forbids_timeouts", "raid30", mod(to(60), func(in *Input) { in.RaidActive = true }), Result{Final: del, Rules: RuleRaidCap | RuleSnap}},
		{"raid_and_max", "", mod(to(3600), func(in *Input) { in.RaidActive = true }), Result{Final: to(60), Rules: RuleTimeoutBounds | RuleRaidCap}},

		// raid_first_msg
		{"raid_first_msg", "", mod(to(60), func(in *Input) { in.RaidActive, in.FirstMsg = true, true }), Result{Final: del, Rules: RuleRaidFirstMsg}},
		{"first_msg_no_raid", "", mod(to(60), func(in *Input) { in.FirstMsg = true }), Result{Final: to(60)}},

		// escalation
		{"no_warn", "", mod(to(600), func(in *Input) { in.LastWarnMs = 0 }), Result{Final: warn, Rules: RuleEscalation}},
		{"warn_outside_window", "", mod(to(600), func(in *Input) { in.LastWarnMs = nowMs - DefaultWarnWindowMs - 1 }), Result{Final: warn, Rules: RuleEscalation}},
		{"warn_at_window_edge", "", mod(to(600), func(in *Input) { in.LastWarnMs = nowMs - DefaultWarnWindowMs }), Result{Final: to(600)}},
		{"warn_in_future", "", mod(to(600), func(in *Input) { in.LastWarnMs = nowMs + 5 }), Result{Final: warn, Rules: RuleEscalation}},
		{"extreme_score", "", mod(to(600), func(in *Input) { in.LastWarnMs, in.Score = 0, 0.97 }), Result{Final: to(600)}},
		{"just_below_extreme", "", mod(to(600), func(in *Input) { in.LastWarnMs, in.Score = 0, 0.9699 }), Result{Final: warn, Rules: RuleEscalation}},
		{"fallback_delete", "fbdelete", mod(to(600), func(in *Input) { in.LastWarnMs = 0 }), Result{Final: del, Rules: RuleEscalation}},
		{"require_warn_off", "nowarn", mod(to(600), func(in *Input) { in.LastWarnMs = 0 }), Result{Final: to(600)}},
		{"escalation_with_sub_cap", "", mod(to(600), func(in *Input) { in.LastWarnMs, in.SubMonths = 0, 24 }),
			Result{Final: warn, Rules: RuleEscalation | RuleSubscriberCap}},
		{"escalation_with_snap", "", mod(to(300), func(in *Input) { in.LastWarnMs = 0 }), Result{Final: warn, Rules: RuleEscalation | RuleSnap}},

		// cooldown
		{"cooldown_timeout", "", mod(to(600), func(in *Input) { in.LastWarnMs, in.LastActionMs = nowMs-5000, nowMs-5000 }),
			Result{Final: del, Rules: RuleCooldown}},
		{"cooldown_warn", "", mod(warn, func(in *Input) { in.LastActionMs = nowMs - 5000 }), Result{Final: ignore, Rules: RuleCooldown}},
		{"cooldown_delete_allowed", "", mod(del, func(in *Input) { in.LastActionMs = nowMs - 1 }), Result{Final: del}},
		{"cooldown_over", "", mod(warn, func(in *Input) { in.LastActionMs = nowMs - DefaultCooldownMs }), Result{Final: warn}},
		{"cooldown_future_action", "", mod(warn, func(in *Input) { in.LastActionMs = nowMs + 1000 }), Result{Final: ignore, Rules: RuleCooldown}},
		{"cooldown_disabled", "nocool", mod(warn, func(in *Input) { in.LastActionMs = nowMs - 1 }), Result{Final: warn}},
		{"cooldown_blocks_escalation_warn", "", mod(to(600), func(in *Input) { in.LastWarnMs, in.LastActionMs = 0, nowMs-1000 }),
			Result{Final: del, Rules: RuleEscalation | RuleCooldown}},

		// snap
		{"snap_down", "", base(to(300)), Result{Final: to(60), Rules: RuleSnap}},
		{"snap_below_shortest", "", base(to(59)), Result{Final: del, Rules: RuleSnap}},
		{"snap_long", "long", base(to(1000)), Result{Final: to(600), Rules: RuleSnap}},
	}
	var covered Rule
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in
			got := c.Apply([]byte(tt.channel), &in)
			if got != tt.want {
				t.Errorf("Apply(%q, %v) = {%v %v}, want {%v %v}", tt.channel, tt.in.Requested, got.Final, got.Rules, tt.want.Final, tt.want.Rules)
			}
			if in != tt.in {
				t.Errorf("Apply modified its input: %+v, want %+v", in, tt.in)
			}
		})
		covered |= tt.want.Rules
	}
	if covered != AllRules {
		t.Errorf("rule table does not cover %v", AllRules&^covered)
	}
}

func TestApply_NilInput(t *testing.T) {
	c := newTestClamp(t)
	if got, want := c.Apply(nil, nil), (Result{Final: ignore, Rules: RuleInvalid}); got != want {
		t.Errorf("Apply(nil, nil) = %+v, want %+v", got, want)
	}
	if got := c.Allowed(nil, nil, nil); len(got) != 1 || got[0] != ignore {
		t.Errorf("Allowed(nil, nil) = %v, want [IGNORE]", got)
	}
}

func TestAllowed(t *testing.T) {
	c := newTestClamp(t)
	mod := func(f func(*Input)) Input { in := base(ignore); f(&in); return in }
	tests := []struct {
		name    string
		channel string
		in      Input
		want    []event.Action
	}{
		{"default", "", base(ignore), []event.Action{ignore, warn, del, to(60), to(600)}},
		{"moderator", "", mod(func(in *Input) { in.Moderator = true }), []event.Action{ignore}},
		{"vip", "", mod(func(in *Input) { in.VIP = true }), []event.Action{ignore, warn}},
		{"cooldown", "", mod(func(in *Input) { in.LastActionMs = nowMs }), []event.Action{ignore, del}},
		{"unwarned", "", mod(func(in *Input) { in.LastWarnMs = 0 }), []event.Action{ignore, warn, del}},
		{"raid_first", "", mod(func(in *Input) { in.RaidActive, in.FirstMsg = true, true }), []event.Action{ignore, warn, del}},
		{"raid", "long", mod(func(in *Input) { in.RaidActive = true }), []event.Action{ignore, warn, del}},
		{"over_budget", "", mod(func(in *Input) { in.OverBudget, in.HasDeterministic, in.Deterministic = true, true, to(120) }),
			[]event.Action{ignore, warn, del, to(60)}},
		{"over_budget_no_det", "", mod(func(in *Input) { in.OverBudget = true }), []event.Action{ignore}},
		{"long", "long", base(ignore), []event.Action{ignore, warn, del, to(600), to(3600)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := c.Allowed([]byte(tt.channel), &tt.in, nil)
			if !equalActions(got, tt.want) {
				t.Errorf("Allowed(%q) = %v, want %v", tt.channel, got, tt.want)
			}
		})
	}
}

func equalActions(a, b []event.Action) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNew_Errors(t *testing.T) {
	bad := DefaultLimits()
	bad.MinTimeoutS, bad.MaxTimeoutS = 700, 600
	tests := []struct {
		name     string
		global   Limits
		channels map[string]Limits
		field    string // a FieldError with this field is expected
	}{
		{"bad_global", bad, nil, "min_timeout_s"},
		{"bad_channel", DefaultLimits(), map[string]Limits{"forsen": bad}, "min_timeout_s"},
		{"hash_key", DefaultLimits(), map[string]Limits{"#forsen": DefaultLimits()}, "channels"},
		{"upper_key", DefaultLimits(), map[string]Limits{"Forsen": DefaultLimits()}, "channels"},
		{"empty_key", DefaultLimits(), map[string]Limits{"": DefaultLimits()}, "channels"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.global, tt.channels)
			if err == nil {
				t.Fatalf("New() = %v, nil, want an error", c)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalidLimits) {
				t.Errorf("New() error = %v, want a FieldError for %q wrapping ErrInvalidLimits", err, tt.field)
			}
		})
	}
}

func TestClamp_Limits(t *testing.T) {
	c := newTestClamp(t)
	if got := c.Limits([]byte("long")).MaxTimeoutS; got != 3600 {
		t.Errorf("Limits(long).MaxTimeoutS = %d, want 3600", got)
	}
	if got := c.Limits([]byte("tiny")).MaxTimeoutS; got != 30 {
		t.Errorf("Limits(tiny).MaxTimeoutS = %d, want 30", got)
	}
	if got, want := c.Limits([]byte("nope")), DefaultLimits(); got != want {
		t.Errorf("Limits(nope) = %+v, want %+v", got, want)
	}
}
