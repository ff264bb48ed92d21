package event

import (
	"errors"
	"fmt"
	"strconv"
)

// ErrUnknownAction is returned when an action name or index is not one of the
// known moderation actions.
var ErrUnknownAction = errors.New("event: unknown action")

// ActionKind is a kind of moderation action, ordered from the gentlest to the
// harshest: a larger value is a harsher action.
type ActionKind uint8

// The moderation actions decide can take.
const (
	Ignore  ActionKind = iota // do nothing
	Warn                      // Helix Warn Chat User
	Delete                    // Helix Delete Chat Messages (the one message)
	Timeout                   // Helix Ban User with a duration
)

var actionNames = [...]string{Ignore: "IGNORE", Warn: "WARN", Delete: "DELETE", Timeout: "TIMEOUT"}

// String returns the upper-case wire name of k ("IGNORE", "WARN", ...).
func (k ActionKind) String() string {
	if int(k) < len(actionNames) {
		return actionNames[k]
	}
	return "ActionKind(" + strconv.Itoa(int(k)) + ")"
}

// ParseActionKind parses a wire name such as "TIMEOUT".
func ParseActionKind(s string) (ActionKind, error) {
	for i, n := range actionNames {
		if n == s {
			return ActionKind(i), nil
		}
	}
	return 0, fmt.Errorf("parse action kind %q: %w", s, ErrUnknownAction)
}

// Action is one moderation action. DurationS is the timeout length in seconds
// and is zero for every kind but Timeout.
type Action struct {
	Kind      ActionKind
	DurationS int32
}

// Harsher reports whether a is a harsher action than b: a harsher kind, or a
// longer timeout.
func (a Action) Harsher(b Action) bool {
	if a.Kind != b.Kind {
		return a.Kind > b.Kind
	}
	return a.DurationS > b.DurationS
}

// String returns "TIMEOUT_600" for timeouts and the kind name otherwise.
func (a Action) String() string {
	if a.Kind == Timeout {
		return "TIMEOUT_" + strconv.Itoa(int(a.DurationS))
	}
	return a.Kind.String()
}

// ParseAction parses the String form of an Action.
func ParseAction(s string) (Action, error) {
	const p = "TIMEOUT_"
	if len(s) > len(p) && s[:len(p)] == p {
		d, err := strconv.ParseInt(s[len(p):], 10, 32)
		if err != nil || d <= 0 {
			return Action{}, fmt.Errorf("parse action %q: bad timeout length: %w", s, ErrUnknownAction)
		}
		return Action{Kind: Timeout, DurationS: int32(d)}, nil
	}
	k, err := ParseActionKind(s)
	if err != nil {
		return Action{}, err
	}
	if k == Timeout {
		return Action{}, fmt.Errorf("parse action %q: timeout needs a length (TIMEOUT_<seconds>): %w", s, ErrUnknownAction)
	}
	return Action{Kind: k}, nil
}

// DiscreteActions is the fixed, ordered action space shared by the
// deterministic policy, the learned (ONNX) policy and offline RL: index i of a
// policy's output is DiscreteActions[i]. Changing it is a feature-set/action-set
// version change.
var DiscreteActions = [...]Action{
	{Kind: Ignore},
	{Kind: Warn},
	{Kind: Delete},
	{Kind: Timeout, DurationS: 60},
	{Kind: Timeout, DurationS: 600},
	{Kind: Timeout, DurationS: 3600},
}

// ActionSetVersion names the DiscreteActions layout.
const ActionSetVersion = "as-1"

// ActionIndex returns the index of a in DiscreteActions, or -1.
func ActionIndex(a Action) int {
	for i, d := range DiscreteActions {
		if d == a {
			return i
		}
	}
	return -1
}
