package clamp

import (
	"errors"
	"fmt"
	"strings"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// NumActions is the size of the action space, len(event.DiscreteActions).
const NumActions = len(event.DiscreteActions)

// The allowed-action sets are uint32 bit masks over DiscreteActions indexes.
var _ [32 - NumActions]struct{} // compile-time check: NumActions <= 32

const (
	idxIgnore = 0
	idxWarn   = 1
	idxDelete = 2
)

// Input is everything the clamp needs to know about one decision. Times are
// Unix milliseconds from the feature-store snapshot; 0 means "never".
type Input struct {
	// Requested is the action the deciding policy asked for.
	Requested event.Action
	// Deterministic is the deterministic (rules) policy's action for the same
	// message, used by the latency fallback; HasDeterministic says whether
	// there is one.
	Deterministic    event.Action
	HasDeterministic bool
	// Score is the risk score in [0, 1] (NaN counts as not extreme).
	Score float64

	// Author's standing in the channel.
	Broadcaster, Moderator, VIP bool
	SubMonths                   int32 // cumulative subscribed months (badge-info)
	FirstMsg                    bool  // Twitch first-msg=1: the author's first message in the channel

	LastWarnMs   int64 // this system's last WARN on the user in this channel
	LastActionMs int64 // this system's last non-IGNORE action on the user in this channel
	NowMs        int64 // decision time

	RaidActive bool // the channel is in raid mode
	OverBudget bool // the decision path ran over its latency budget
}

// Result is the clamp's verdict.
type Result struct {
	// Final is the action to execute; always one of event.DiscreteActions.
	Final event.Action
	// Rules holds every rule that changed the action; zero when Final ==
	// Requested.
	Rules Rule
}

// channelLimits is a Limits resolved for the hot path.
type channelLimits struct {
	lim Limits // normalized
	// blockers[i] is the set of rules that forbid DiscreteActions[i] when
	// they are active for an input. RuleMaxAction and RuleTimeoutBounds are
	// always active.
	blockers [NumActions]Rule
}

// Clamp applies the safety rules. It is immutable after New and safe for
// concurrent use.
type Clamp struct {
	global   channelLimits
	channels map[string]*channelLimits
}

// New validates and resolves the global limits and the per-channel limits
// (complete Limits each; see Config for JSON inheritance). Channel keys must
// be non-empty, lower case and without a leading '#'.
func New(global Limits, perChannel map[string]Limits) (*Clamp, error) {
	if err := checkActionSpace(); err != nil {
		return nil, err
	}
	var errs []error
	if err := global.validate(""); err != nil {
		errs = append(errs, err)
	}
	c := &Clamp{global: resolve(global)}
	if len(perChannel) > 0 {
		c.channels = make(map[string]*channelLimits, len(perChannel))
	}
	for name, l := range perChannel {
		if name == "" || name[0] == '#' || strings.ToLower(name) != name {
			errs = append(errs, &FieldError{Channel: name, Field: "channels", Msg: "channel key must be non-empty, lower case and without '#'"})
			continue
		}
		if err := l.validate(name); err != nil {
			errs = append(errs, err)
			continue
		}
		r := resolve(l)
		c.channels[name] = &r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("create clamp: %w", err)
	}
	return c, nil
}

// checkActionSpace verifies the layout of event.DiscreteActions the clamp
// relies on: IGNORE, WARN, DELETE first, then timeouts, strictly ascending.
func checkActionSpace() error {
	d := event.DiscreteActions
	if d[idxIgnore] != (event.Action{Kind: event.Ignore}) || d[idxWarn] != (event.Action{Kind: event.Warn}) ||
		d[idxDelete] != (event.Action{Kind: event.Delete}) {
		return errors.New("create clamp: BUG: event.DiscreteActions must start with IGNORE, WARN, DELETE")
	}
	for i := 1; i < NumActions; i++ {
		if !d[i].Harsher(d[i-1]) || !valid(d[i]) {
			return fmt.Errorf("create clamp: BUG: event.DiscreteActions[%d] = %v is invalid or not harsher than its predecessor", i, d[i])
		}
	}
	return nil
}

func resolve(l Limits) channelLimits {
	l = l.Normalized()
	r := channelLimits{lim: l}
	for i, a := range event.DiscreteActions {
		var b Rule
		if a.Kind > event.ActionKind(l.MaxAction) {
			b |= RuleMaxAction
		}
		if a.Kind == event.Timeout && (a.DurationS < l.MinTimeoutS || a.DurationS > l.MaxTimeoutS) {
			b |= RuleTimeoutBounds
		}
		if i != idxIgnore {
			b |= RuleTrustBroadcaster | RuleTrustModerator
		}
		if a.Kind > event.ActionKind(l.VIPMax) {
			b |= RuleVIPCap
		}
		if a.Kind > event.ActionKind(l.SubMax) {
			b |= RuleSubscriberCap
		}
		if a.Kind == event.Timeout && a.DurationS > l.RaidMaxTimeoutS {
			b |= RuleRaidCap
		}
		if a.Kind > event.ActionKind(l.RaidFirstMsgMax) {
			b |= RuleRaidFirstMsg
		}
		if a.Kind == event.Timeout {
			b |= RuleEscalation
		}
		if a.Kind == event.Warn || a.Kind == event.Timeout {
			b |= RuleCooldown
		}
		r.blockers[i] = b
	}
	return r
}

// Limits returns the normalized limits that apply to channel.
func (c *Clamp) Limits(channel []byte) Limits { return c.lookup(channel).lim }

func (c *Clamp) lookup(channel []byte) *channelLimits {
	if len(c.channels) != 0 {
		if r, ok := c.channels[string(channel)]; ok {
			return r
		}
	}
	return &c.global
}

// valid reports whether a is a well-formed action (not necessarily discrete).
func valid(a event.Action) bool {
	if a.Kind == event.Timeout {
		return a.DurationS > 0
	}
	return a.Kind < event.Timeout && a.DurationS == 0
}

// active returns the rules that apply to in, given the channel limits.
func (r *channelLimits) active(in *Input) Rule {
	l := &r.lim
	act := RuleMaxAction | RuleTimeoutBounds
	if in.Broadcaster {
		act |= RuleTrustBroadcaster
	}
	if in.Moderator {
		act |= RuleTrustModerator
	}
	if in.VIP {
		act |= RuleVIPCap
	}
	if l.SubCapMonths > 0 && in.SubMonths >= l.SubCapMonths {
		act |= RuleSubscriberCap
	}
	if in.RaidActive {
		act |= RuleRaidCap
		if in.FirstMsg {
			act |= RuleRaidFirstMsg
		}
	}
	if l.RequireWarn && !(in.Score >= l.ExtremeScore) && !warnedRecently(in, l.WarnWindowMs) {
		act |= RuleEscalation
	}
	if inCooldown(in, l.CooldownMs) {
		act |= RuleCooldown
	}
	return act
}

// warnedRecently: a warn counts when it lies in [now-window, now]; a warn
// stamped in the future (clock skew) does not count, which errs on the gentle
// side. No subtraction can overflow: both operands are positive when it runs.
func warnedRecently(in *Input, windowMs int64) bool {
	return in.LastWarnMs > 0 && in.LastWarnMs <= in.NowMs && in.NowMs-in.LastWarnMs <= windowMs
}

// inCooldown: an action stamped in the future counts as in cooldown (gentle
// side again).
func inCooldown(in *Input, cooldownMs int64) bool {
	return cooldownMs > 0 && in.LastActionMs > 0 &&
		(in.NowMs < in.LastActionMs || in.NowMs-in.LastActionMs < cooldownMs)
}

// fallback returns the latency-fallback action and whether the deterministic
// action had to be replaced by IGNORE because it was invalid.
func fallback(in *Input) (event.Action, bool) {
	if !in.HasDeterministic {
		return event.Action{}, false
	}
	if !valid(in.Deterministic) {
		return event.Action{}, true
	}
	return in.Deterministic, false
}

// Apply clamps in.Requested for channel. It never allocates, never panics and
// never escalates. A nil in is treated as an invalid request.
func (c *Clamp) Apply(channel []byte, in *Input) Result {
	if in == nil {
		return Result{Rules: RuleInvalid}
	}
	res, _ := c.eval(c.lookup(channel), in)
	return res
}

// Allowed appends to dst, in event.DiscreteActions order, the actions that
// Apply would let through unchanged for in (in.Requested is ignored) and
// returns the extended slice. IGNORE is always among them. It does not
// allocate when dst has room for NumActions actions.
func (c *Clamp) Allowed(channel []byte, in *Input, dst []event.Action) []event.Action {
	if in == nil {
		return append(dst, event.Action{})
	}
	r := c.lookup(channel)
	m := c.allowedMask(r, in, r.active(in))
	for i, a := range event.DiscreteActions {
		if m&(1<<i) != 0 {
			dst = append(dst, a)
		}
	}
	return dst
}

func (c *Clamp) allowedMask(r *channelLimits, in *Input, act Rule) uint32 {
	var m uint32
	for i := range NumActions {
		if r.blockers[i]&act == 0 {
			m |= 1 << i
		}
	}
	if in.OverBudget {
		fb, _ := fallback(in)
		for i, a := range event.DiscreteActions {
			if a.Harsher(fb) {
				m &^= 1 << i
			}
		}
	}
	return m
}

// eval is Apply plus the allowed mask (for the Explorer).
func (c *Clamp) eval(r *channelLimits, in *Input) (Result, uint32) {
	act := r.active(in)
	allowed := c.allowedMask(r, in, act)

	cand := in.Requested
	if !valid(cand) {
		return Result{Rules: RuleInvalid}, allowed
	}
	var rules Rule
	if in.OverBudget {
		fb, detInvalid := fallback(in)
		if cand.Harsher(fb) {
			cand = fb
			rules |= RuleLatencyFallback
			if detInvalid {
				rules |= RuleInvalid
			}
		}
	}

	// Shorten over-long timeouts before snapping, so that a cap shows up as
	// the cap rule and not as a snap.
	l := &r.lim
	if cand.Kind == event.Timeout {
		if cand.DurationS > l.MaxTimeoutS {
			cand.DurationS = l.MaxTimeoutS
			rules |= RuleTimeoutBounds
		}
		if in.RaidActive && cand.DurationS > l.RaidMaxTimeoutS {
			cand.DurationS = l.RaidMaxTimeoutS
			rules |= RuleRaidCap
		}
	}

	// Snap down: the harshest discrete action not harsher than cand. For a
	// valid cand this is cand itself unless it is a non-discrete timeout.
	i := NumActions - 1
	for i > idxIgnore && event.DiscreteActions[i].Harsher(cand) {
		i--
	}
	if event.DiscreteActions[i] != cand {
		rules |= RuleSnap
	}

	if allowed&(1<<i) == 0 {
		if event.DiscreteActions[i].Kind == event.Timeout && act&RuleEscalation != 0 &&
			event.ActionKind(l.EscalationFallback) == event.Warn && allowed&(1<<idxWarn) != 0 {
			// An unwarned timeout becomes a WARN (skipping DELETE) so that
			// the escalation ladder can start.
			for ; i > idxWarn; i-- {
				rules |= r.blockers[i] & act
			}
		} else {
			// Walk down to the harshest allowed action. IGNORE is always
			// allowed, so the loop ends.
			for ; allowed&(1<<i) == 0; i-- {
				rules |= r.blockers[i] & act
			}
		}
	}
	return Result{Final: event.DiscreteActions[i], Rules: rules}, allowed
}
