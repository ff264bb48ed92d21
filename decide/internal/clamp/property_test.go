package clamp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// randomLimits returns a valid random Limits, biased towards boundary values.
func randomLimits(r *rand.Rand) Limits {
	lens := []int32{-5, 0, 1, 30, 59, 60, 61, 300, 599, 600, 601, 3599, 3600, 3601, 86400, TwitchMaxTimeoutS, 2_000_000}
	kind := func() Kind { return Kind(r.IntN(4)) }
	for {
		l := Limits{
			MaxAction:          kind(),
			MinTimeoutS:        lens[r.IntN(len(lens))],
			MaxTimeoutS:        lens[r.IntN(len(lens))],
			VIPMax:             kind(),
			SubCapMonths:       int32(r.IntN(4) * 6),
			SubMax:             kind(),
			RequireWarn:        r.IntN(4) != 0,
			WarnWindowMs:       int64(1+r.IntN(3)) * 30 * 60_000,
			ExtremeScore:       []float64{0, 0.5, 0.9, 0.97, 1, 1.5}[r.IntN(6)],
			EscalationFallback: Kind(event.Warn + event.ActionKind(r.IntN(2))),
			RaidMaxTimeoutS:    lens[r.IntN(len(lens))],
			RaidFirstMsgMax:    kind(),
			CooldownMs:         int64(r.IntN(3)) * 5000,
		}
		if l.Validate() == nil {
			return l
		}
	}
}

// propertyClamp builds a clamp with n random channels named "c0".."c<n-1>".
func propertyClamp(tb testing.TB, seed uint64, n int) (*Clamp, [][]byte) {
	tb.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	chans := make(map[string]Limits, n)
	names := [][]byte{nil, []byte("unknown")}
	for i := range n {
		name := "c" + strconv.Itoa(i)
		chans[name] = randomLimits(r)
		names = append(names, []byte(name))
	}
	c, err := New(randomLimits(r), chans)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return c, names
}

func randomAction(r *rand.Rand) event.Action {
	switch r.IntN(20) {
	case 0:
		return event.Action{Kind: event.ActionKind(r.IntN(256)), DurationS: r.Int32N(3) - 1}
	case 1:
		return event.Action{Kind: event.ActionKind(r.IntN(3)), DurationS: r.Int32N(100) - 50}
	}
	k := event.ActionKind(r.IntN(4))
	if k != event.Timeout {
		return event.Action{Kind: k}
	}
	var d int32
	switch r.IntN(5) {
	case 0:
		d = event.DiscreteActions[3+r.IntN(NumActions-3)].DurationS
	case 1:
		d = r.Int32N(10) - 5
	case 2:
		d = int32(r.Uint32() >> 1) // up to MaxInt32
	default:
		d = 1 + r.Int32N(4000)
	}
	return event.Action{Kind: event.Timeout, DurationS: d}
}

func randomInput(r *rand.Rand) Input {
	now := int64(1_700_000_000_000) + r.Int64N(1_000_000)
	ago := func(max int64) int64 {
		switch r.IntN(6) {
		case 0:
			return 0
		case 1:
			return now + 1 + r.Int64N(1000) // in the future
		case 2: // exactly on a window/cooldown edge
			return now - []int64{0, 5000, 10_000, 30 * 60_000, 60 * 60_000, 90 * 60_000}[r.IntN(6)]
		}
		return now - r.Int64N(max)
	}
	score := r.Float64()
	switch r.IntN(10) {
	case 0:
		score = []float64{0, 0.5, 0.9, 0.97, 1, 1.5, math.NaN(), math.Inf(1), -1}[r.IntN(9)]
	}
	return Input{
		Requested:        randomAction(r),
		Deterministic:    randomAction(r),
		HasDeterministic: r.IntN(2) == 0,
		Score:            score,
		Broadcaster:      r.IntN(20) == 0,
		Moderator:        r.IntN(10) == 0,
		VIP:              r.IntN(6) == 0,
		SubMonths:        int32(r.IntN(30)) - 2,
		FirstMsg:         r.IntN(4) == 0,
		LastWarnMs:       ago(3 * 60 * 60_000),
		LastActionMs:     ago(40_000),
		NowMs:            now,
		RaidActive:       r.IntN(4) == 0,
		OverBudget:       r.IntN(6) == 0,
	}
}

// checkInvariants applies c to in and returns a description of the first
// invariant it violates, or "". The conditions are written from Limits and
// Input directly, not from the clamp's internals.
func checkInvariants(c *Clamp, channel []byte, in *Input) string {
	l := c.Limits(channel)
	res := c.Apply(channel, in)
	f, req := res.Final, in.Requested
	fail := func(format string, args ...any) string {
		return fmt.Sprintf("Apply(%q, %+v) [requested kind %d length %d] = {%v %v}: ", channel, *in, req.Kind, req.DurationS, f, res.Rules) +
			fmt.Sprintf(format, args...)
	}
	isValid := req.Kind <= event.Timeout && (req.Kind == event.Timeout) == (req.DurationS != 0) && req.DurationS >= 0
	if event.ActionIndex(f) < 0 {
		return fail("final not in DiscreteActions")
	}
	if !isValid && (f != ignore || res.Rules != RuleInvalid) {
		return fail("invalid request must give IGNORE with RuleInvalid only")
	}
	if isValid && f.Harsher(req) {
		return fail("escalated")
	}
	if (in.Broadcaster || in.Moderator) && f != ignore {
		return fail("actioned broadcaster/moderator")
	}
	if f.Kind > event.ActionKind(l.MaxAction) {
		return fail("above max_action %v", l.MaxAction)
	}
	isTO := f.Kind == event.Timeout
	if isTO && (f.DurationS < l.MinTimeoutS || f.DurationS > l.MaxTimeoutS) {
		return fail("timeout outside [%d, %d]", l.MinTimeoutS, l.MaxTimeoutS)
	}
	if in.VIP && f.Kind > event.ActionKind(l.VIPMax) {
		return fail("VIP above %v", l.VIPMax)
	}
	subCapped := l.SubCapMonths > 0 && in.SubMonths >= l.SubCapMonths
	if subCapped && f.Kind > event.ActionKind(l.SubMax) {
		return fail("subscriber above %v", l.SubMax)
	}
	if in.RaidActive && isTO && f.DurationS > l.RaidMaxTimeoutS {
		return fail("raid timeout above %d", l.RaidMaxTimeoutS)
	}
	if in.RaidActive && in.FirstMsg && f.Kind > event.ActionKind(l.RaidFirstMsgMax) {
		return fail("raid first-time chatter above %v", l.RaidFirstMsgMax)
	}
	warned := in.LastWarnMs > 0 && in.LastWarnMs <= in.NowMs && in.NowMs-in.LastWarnMs <= l.WarnWindowMs
	escalating := l.RequireWarn && !warned && !(in.Score >= l.ExtremeScore)
	if escalating && isTO {
		return fail("timeout without warn")
	}
	cooling := l.CooldownMs > 0 && in.LastActionMs > 0 && (in.NowMs < in.LastActionMs || in.NowMs-in.LastActionMs < l.CooldownMs)
	if cooling && (f.Kind == event.Warn || isTO) {
		return fail("warn/timeout within cooldown")
	}
	detOK := in.Deterministic.Kind <= event.Timeout && (in.Deterministic.Kind == event.Timeout) == (in.Deterministic.DurationS != 0) && in.Deterministic.DurationS >= 0
	fb := ignore
	if in.HasDeterministic && detOK {
		fb = in.Deterministic
	}
	if in.OverBudget && f.Harsher(fb) {
		return fail("over budget but harsher than the fallback %v", fb)
	}
	if (res.Rules == 0) != (f == req) {
		return fail("rules must be empty exactly when the action is unchanged")
	}
	// Every reported rule must apply to this context.
	applies := map[Rule]bool{
		RuleInvalid:          !isValid || (in.OverBudget && in.HasDeterministic && !detOK),
		RuleLatencyFallback:  in.OverBudget,
		RuleTrustBroadcaster: in.Broadcaster,
		RuleTrustModerator:   in.Moderator,
		RuleMaxAction:        l.MaxAction < Kind(event.Timeout),
		RuleTimeoutBounds:    req.Kind == event.Timeout || in.OverBudget,
		RuleVIPCap:           in.VIP,
		RuleSubscriberCap:    subCapped,
		RuleRaidCap:          in.RaidActive,
		RuleRaidFirstMsg:     in.RaidActive && in.FirstMsg,
		RuleEscalation:       escalating,
		RuleCooldown:         cooling,
		RuleSnap:             req.Kind == event.Timeout || in.OverBudget,
	}
	for rule, ok := range applies {
		if res.Rules&rule != 0 && !ok {
			return fail("rule %v reported but does not apply", rule)
		}
	}
	if res.Rules&^AllRules != 0 {
		return fail("undefined rule bits")
	}

	// Idempotence.
	again := *in
	again.Requested = f
	if r2 := c.Apply(channel, &again); r2 != (Result{Final: f}) {
		return fail("not idempotent: Apply(final) = {%v %v}", r2.Final, r2.Rules)
	}

	// Allowed is exactly the set of discrete actions that pass unchanged, and
	// contains the final action.
	var buf [NumActions]event.Action
	allowed := c.Allowed(channel, in, buf[:0])
	inAllowed := func(a event.Action) bool {
		for _, x := range allowed {
			if x == a {
				return true
			}
		}
		return false
	}
	if !inAllowed(f) {
		return fail("final not in Allowed %v", allowed)
	}
	for _, a := range event.DiscreteActions {
		probe := *in
		probe.Requested = a
		if passes := c.Apply(channel, &probe).Final == a; passes != inAllowed(a) {
			return fail("Allowed %v disagrees with Apply on %v", allowed, a)
		}
	}

	// Least intervention: no allowed action lies between the final action and
	// the request as shortened by the latency fallback and the length caps,
	// except DELETE when an unwarned timeout became WARN.
	if isValid {
		upper := req
		if in.OverBudget && upper.Harsher(fb) {
			upper = fb
		}
		if upper.Kind == event.Timeout {
			upper.DurationS = min(upper.DurationS, l.MaxTimeoutS)
			if in.RaidActive {
				upper.DurationS = min(upper.DurationS, l.RaidMaxTimeoutS)
			}
		}
		jump := f == warn && upper.Kind == event.Timeout && escalating && l.EscalationFallback == Kind(event.Warn)
		for _, a := range allowed {
			if a.Harsher(f) && !a.Harsher(upper) && !(jump && a == del) {
				return fail("over-clamped: %v is allowed and not harsher than %v", a, upper)
			}
		}
	}
	return ""
}

func TestApply_Property(t *testing.T) {
	const n = 1_000_000
	c, chans := propertyClamp(t, 42, 24)
	r := rand.New(rand.NewPCG(7, 11))
	var finals [NumActions]int
	violations := 0
	for range n {
		in := randomInput(r)
		ch := chans[r.IntN(len(chans))]
		if msg := checkInvariants(c, ch, &in); msg != "" {
			violations++
			if violations <= 10 {
				t.Error(msg)
			}
		}
		finals[event.ActionIndex(c.Apply(ch, &in).Final)]++
	}
	t.Logf("checked %d random inputs over %d channel configs: %d violations; finals by action %v", n, len(chans), violations, finals)
	if violations > 0 {
		t.Fatalf("%d of %d inputs violated an invariant", violations, n)
	}
	// The generator must reach every action, or the check proves little.
	for i, k := range finals {
		if k < n/1000 {
			t.Errorf("only %d finals were %v; the generator does not exercise it", k, event.DiscreteActions[i])
		}
	}
}

func FuzzApply(f *testing.F) {
	c, chans := propertyClamp(f, 1, 16)
	f.Add(uint8(3), int32(600), uint8(2), int32(0), true, uint16(0), 0.5, int32(0), int64(0), int64(0), int64(1_700_000_000_000), uint8(0))
	f.Add(uint8(3), int32(-1), uint8(9), int32(5), true, uint16(0xffff), 0.99, int32(24), int64(1_700_000_000_000), int64(1_699_999_999_000), int64(1_700_000_000_000), uint8(3))
	f.Add(uint8(3), int32(300), uint8(3), int32(3600), false, uint16(0x1a5), 0.97, int32(12), int64(1), int64(math.MaxInt64), int64(math.MinInt64), uint8(7))
	f.Fuzz(func(t *testing.T, kind uint8, dur int32, detKind uint8, detDur int32, hasDet bool, flags uint16,
		score float64, subMonths int32, lastWarn, lastAction, now int64, chSel uint8) {
		in := Input{
			Requested:        event.Action{Kind: event.ActionKind(kind), DurationS: dur},
			Deterministic:    event.Action{Kind: event.ActionKind(detKind), DurationS: detDur},
			HasDeterministic: hasDet,
			Score:            score,
			Broadcaster:      flags&1 != 0,
			Moderator:        flags&2 != 0,
			VIP:              flags&4 != 0,
			FirstMsg:         flags&8 != 0,
			RaidActive:       flags&16 != 0,
			OverBudget:       flags&32 != 0,
			SubMonths:        subMonths,
			LastWarnMs:       lastWarn,
			LastActionMs:     lastAction,
			NowMs:            now,
		}
		if msg := checkInvariants(c, chans[int(chSel)%len(chans)], &in); msg != "" {
			t.Fatal(msg)
		}
	})
}
