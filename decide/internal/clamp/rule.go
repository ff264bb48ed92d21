package clamp

import (
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// ErrUnknownRule is returned when a rule name is not one of the clamp's rules.
var ErrUnknownRule = errors.New("clamp: unknown rule")

// Rule is a bit set of clamp rules. Result.Rules holds the rules that changed
// the requested action; it is zero exactly when the action went through
// unchanged.
type Rule uint32

// The clamp's rules, in the order the package documentation describes them.
// The bit values are not part of any wire format (JSON uses the names), but
// they are stable within one build.
const (
	// RuleInvalid: the requested action (or, over budget, the deterministic
	// fallback) was not a valid action: unknown kind, a timeout without a
	// positive length, or a length on a non-timeout. Final is IGNORE.
	RuleInvalid Rule = 1 << iota
	// RuleLatencyFallback: the decision ran over its latency budget, so the
	// learned decision was replaced by the gentler of itself and the
	// deterministic decision (IGNORE when there is none).
	RuleLatencyFallback
	// RuleTrustBroadcaster: the author is the broadcaster; never actioned.
	RuleTrustBroadcaster
	// RuleTrustModerator: the author is a moderator; never actioned.
	RuleTrustModerator
	// RuleMaxAction: the channel's harshest allowed kind (Limits.MaxAction).
	RuleMaxAction
	// RuleTimeoutBounds: the channel's timeout length bounds
	// (Limits.MinTimeoutS, Limits.MaxTimeoutS).
	RuleTimeoutBounds
	// RuleVIPCap: VIPs are capped at Limits.VIPMax.
	RuleVIPCap
	// RuleSubscriberCap: subscribers of Limits.SubCapMonths months or more
	// are capped at Limits.SubMax.
	RuleSubscriberCap
	// RuleRaidCap: during a raid, timeouts are at most Limits.RaidMaxTimeoutS.
	RuleRaidCap
	// RuleRaidFirstMsg: during a raid, first-time chatters are capped at
	// Limits.RaidFirstMsgMax.
	RuleRaidFirstMsg
	// RuleEscalation: no timeout without an earlier system WARN within
	// Limits.WarnWindowMs unless the score is extreme.
	RuleEscalation
	// RuleCooldown: within Limits.CooldownMs of the system's last action on
	// the user only DELETE (or IGNORE) is allowed.
	RuleCooldown
	// RuleSnap: a timeout length that is not one of event.DiscreteActions was
	// rounded down to the nearest discrete length (or to DELETE).
	RuleSnap

	numRules = iota
)

var ruleNames = [numRules]string{
	"invalid",
	"latency_fallback",
	"trust_broadcaster",
	"trust_moderator",
	"max_action",
	"timeout_bounds",
	"vip_cap",
	"subscriber_cap",
	"raid_cap",
	"raid_first_msg",
	"escalation",
	"cooldown",
	"snap",
}

// AllRules is the union of every defined rule.
const AllRules Rule = 1<<numRules - 1

// Names appends the snake_case names of the rules in r to dst, lowest bit
// first, and returns the extended slice. It does not allocate when dst has
// room for them. Undefined bits are ignored.
func (r Rule) Names(dst []string) []string {
	for r &= AllRules; r != 0; r &= r - 1 {
		dst = append(dst, ruleNames[bits.TrailingZeros32(uint32(r))])
	}
	return dst
}

// String returns the rule names joined by "|", "none" for the empty set.
func (r Rule) String() string {
	if r == 0 {
		return "none"
	}
	var buf [numRules]string
	s := strings.Join(r.Names(buf[:0]), "|")
	if extra := r &^ AllRules; extra != 0 {
		if s != "" {
			s += "|"
		}
		s += "Rule(0x" + strconv.FormatUint(uint64(extra), 16) + ")"
	}
	return s
}

// ParseRule returns the rule with the given snake_case name.
func ParseRule(name string) (Rule, error) {
	for i, n := range ruleNames {
		if n == name {
			return 1 << i, nil
		}
	}
	return 0, fmt.Errorf("parse rule %q: %w", name, ErrUnknownRule)
}

// ParseRules returns the union of the named rules.
func ParseRules(names []string) (Rule, error) {
	var r Rule
	for _, n := range names {
		b, err := ParseRule(n)
		if err != nil {
			return 0, err
		}
		r |= b
	}
	return r, nil
}
