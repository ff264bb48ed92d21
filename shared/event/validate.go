package event

import (
	"errors"
	"math"
	"strconv"
)

// ErrInvalid is wrapped by every *ValidationError.
var ErrInvalid = errors.New("event: invalid event")

// ValidationError reports an event that breaks its schema (schemas/*.json).
// Like a DecodeError it is never retryable: the consumer dead-letters the
// entry with this reason.
type ValidationError struct {
	Field  string // JSON property (stream field or grouped value) at fault
	Reason string // what is wrong with it
}

func (e *ValidationError) Error() string {
	return "event: invalid field " + strconv.Quote(e.Field) + ": " + e.Reason
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// Retryable reports false: an invalid event will not get better.
func (e *ValidationError) Retryable() bool { return false }

func invalid(field, reason string) error { return &ValidationError{Field: field, Reason: reason} }

// Constraints shared by several events (the same as in schemas/*.json).
const (
	maxInt32      = math.MaxInt32
	maxHTTPStatus = 599
	// ProbsSumTolerance is how far the sum of Decision.Probs may be from 1.
	ProbsSumTolerance = 1e-6
	// FeatureSetFS1 is the first state-vector layout
	// (schemas/features/fs-1.json).
	FeatureSetFS1 = "fs-1"
	// FeatureSetFS1Len is the number of values of FeatureSetFS1.
	FeatureSetFS1Len = 44
)

// FeatureSetLen returns the number of state-vector values of feature set
// name, 0 for "" (no vector: bad input), or -1 for a set this schema
// version does not know.
func FeatureSetLen(name string) int {
	switch name {
	case "":
		return 0
	case FeatureSetFS1:
		return FeatureSetFS1Len
	}
	return -1
}

// ValidDecisionPath reports whether p is one of the decision paths.
func ValidDecisionPath(p DecisionPath) bool {
	switch p {
	case PathDeterministic, PathFailOpen, PathExplore, PathPolicyShadow, PathPolicyRollout:
		return true
	}
	return false
}

// ValidFailureReason reports whether r is "" or one of the failure reasons.
func ValidFailureReason(r string) bool {
	switch r {
	case "", FailureBadInput, FailureFeatureStoreTimeout, FailureFeatureStoreError:
		return true
	}
	return false
}

// ValidModSource reports whether s is a mod event source: irc, eventsub or
// sim.
func ValidModSource(s string) bool {
	switch s {
	case "irc", "eventsub", "sim":
		return true
	}
	return false
}

// wireValid reports whether a has a wire form that ParseAction reads back:
// IGNORE, WARN or DELETE without a length, or TIMEOUT with a positive one.
func (a Action) wireValid() bool {
	if a.Kind == Timeout {
		return a.DurationS > 0
	}
	return a.Kind < Timeout && a.DurationS == 0
}

// Validate checks c against schemas/chat.json without allocating (unless
// it fails).
func (c *Chat) Validate() error {
	switch {
	case c.MsgID == "":
		return invalid(FieldMsgID, "empty")
	case c.Channel == "":
		return invalid(FieldChannel, "empty")
	case c.ReceivedAtUs < 0:
		return invalid(FieldReceivedAtUs, "negative")
	case c.SubMonths < 0:
		return invalid(FieldSubMonths, "negative")
	case c.EmoteCount < 0:
		return invalid(FieldEmoteCount, "negative")
	case c.EmoteChars < 0:
		return invalid(FieldEmoteChars, "negative")
	}
	return nil
}

// Validate checks m against schemas/mod.json without allocating (unless it
// fails).
func (m *Mod) Validate() error {
	switch {
	case !ValidModKind(m.Kind):
		return invalid(FieldKind, "unknown kind")
	case !ValidModSource(m.Source):
		return invalid(FieldSource, "unknown source")
	case m.Channel == "":
		return invalid(FieldChannel, "empty")
	case m.DurationS < 0:
		return invalid(FieldDurationS, "negative")
	case m.RaidViewers < 0 || m.RaidViewers > maxInt32:
		return invalid(FieldRaidViewers, "not in 0..2147483647")
	case m.ReceivedAtUs < 0:
		return invalid(FieldReceivedAtUs, "negative")
	}
	return nil
}

// Validate checks x against schemas/execution.json without allocating
// (unless it fails).
func (x *Execution) Validate() error {
	switch {
	case !isUUID5(x.DecisionID):
		return invalid(FieldDecisionID, "not a lower-case UUID v5")
	case !x.Action.wireValid():
		return invalid(FieldAction, "not an action")
	case !ValidExecutionStatus(x.Status):
		return invalid(FieldStatus, "unknown status")
	case x.HTTPStatus < 0 || x.HTTPStatus > maxHTTPStatus:
		return invalid(FieldHTTPStatus, "not in 0..599")
	case x.Attempts < 0:
		return invalid(FieldAttempts, "negative")
	case x.LatencyUs < 0:
		return invalid(FieldLatencyUs, "negative")
	case x.ExecutedAtUs < 1:
		return invalid(FieldExecutedAtUs, "not set")
	}
	return nil
}

// Validate checks d against schemas/log_event.json without allocating
// (unless it fails), plus what a JSON Schema cannot say: floats are finite
// and probs sums to 1 within ProbsSumTolerance.
func (d *Decision) Validate() error {
	if err := d.validateIDs(); err != nil {
		return err
	}
	if err := d.validateState(); err != nil {
		return err
	}
	if err := d.validateActions(); err != nil {
		return err
	}
	return d.validateBehaviour()
}

func (d *Decision) validateIDs() error {
	switch {
	case !isUUID5(d.DecisionID):
		return invalid(FieldDecisionID, "not a lower-case UUID v5")
	case !isStreamID(d.SrcID):
		return invalid(FieldSrcID, "not a stream entry id")
	case d.MsgID == "":
		return invalid(FieldMsgID, "empty")
	case d.ReceivedAtUs < 0:
		return invalid(FieldReceivedAtUs, "negative")
	case d.ReadAtUs < 1:
		return invalid(FieldReadAtUs, "not set")
	case d.DecidedAtUs < 1:
		return invalid(FieldDecidedAtUs, "not set")
	case d.EventTimeMs < 1:
		return invalid(FieldEventTimeMs, "not set")
	case d.SubMonths < 0:
		return invalid(FieldSubMonths, "negative")
	}
	return nil
}

func (d *Decision) validateState() error {
	n := FeatureSetLen(d.FeatureSet)
	if n < 0 {
		return invalid(FieldFeatureSet, "unknown feature set")
	}
	if len(d.Features) != n {
		return invalid(FieldFeatures, "length does not match feature_set")
	}
	var acc float32 // f-f is 0 for every finite f and NaN otherwise
	for _, f := range d.Features {
		acc += f - f
	}
	if acc != 0 {
		return invalid(FieldFeatures, "not finite")
	}
	if len(d.MsgFeatures) != 0 && len(d.MsgFeatures) != DecisionMsgFeatureLen {
		return invalid(FieldMsgFeatures, "want 0 or 26 values")
	}
	var acc64 float64
	for _, f := range d.MsgFeatures {
		acc64 += f - f
	}
	if acc64 != 0 {
		return invalid(FieldMsgFeatures, "not finite")
	}
	if !(d.RiskScore >= 0 && d.RiskScore <= 1) {
		return invalid(FieldRiskScore, "not in [0, 1]")
	}
	return nil
}

func (d *Decision) validateActions() error {
	switch {
	case !d.ActionDeterministic.wireValid():
		return invalid(FieldActionDeterministic, "not an action")
	case !d.ActionRequested.wireValid():
		return invalid(FieldActionRequested, "not an action")
	case d.ActionFinalIdx < 0 || d.ActionFinalIdx >= NumDiscreteActions:
		return invalid(FieldActionFinalIdx, "not in 0..5")
	case ActionIndex(d.ActionFinal) < 0:
		return invalid(FieldActionFinal, "not in action set as-1")
	case DiscreteActions[d.ActionFinalIdx] != d.ActionFinal:
		return invalid(FieldActionFinalIdx, "does not match action_final")
	case !ValidDecisionPath(d.Path):
		return invalid(FieldDecisionPath, "unknown path")
	case !ValidFailureReason(d.FailureReason):
		return invalid(FieldFailureReason, "unknown reason")
	case (d.Path == PathFailOpen) != (d.FailureReason != ""):
		return invalid(FieldFailureReason, "set exactly when decision_path is fail_open")
	case d.Path == PathFailOpen && d.ActionFinal != (Action{}):
		return invalid(FieldActionFinal, "fail_open must be IGNORE")
	case !noComma(d.PolicyVersion):
		return invalid(FieldPolicyVersion, "contains a comma")
	case !isLowerHex(d.ClampVersion, 12):
		return invalid(FieldClampVersion, "not 12 lower-case hex digits")
	case d.ActionSet != ActionSetVersion:
		return invalid(FieldActionSet, "not as-1")
	}
	for i, r := range d.ClampRules {
		if !isRuleName(r) {
			return invalid(FieldClampRules, "not a rule name")
		}
		for _, q := range d.ClampRules[:i] {
			if q == r {
				return invalid(FieldClampRules, "duplicate rule")
			}
		}
	}
	return nil
}

func (d *Decision) validateBehaviour() error {
	switch {
	case !(d.ExploreEps >= 0 && d.ExploreEps <= 1):
		return invalid(FieldExploreEps, "not in [0, 1]")
	case !(d.ExploreDraw >= 0 && d.ExploreDraw < 1):
		return invalid(FieldExploreDraw, "not in [0, 1)")
	case !(d.BehaviourProb > 0 && d.BehaviourProb <= 1):
		return invalid(FieldBehaviourProb, "not in (0, 1]")
	}
	var sum float64
	for _, p := range d.Probs {
		if !(p >= 0 && p <= 1) {
			return invalid(FieldProbs, "value not in [0, 1]")
		}
		sum += p
	}
	if math.Abs(sum-1) > ProbsSumTolerance {
		return invalid(FieldProbs, "does not sum to 1")
	}
	switch {
	case d.LatDecodeUs < 0:
		return invalid(FieldLatDecodeUs, "negative")
	case d.LatFeaturesUs < 0:
		return invalid(FieldLatFeaturesUs, "negative")
	case d.LatStoreUs < 0:
		return invalid(FieldLatStoreUs, "negative")
	case d.LatScoreUs < 0:
		return invalid(FieldLatScoreUs, "negative")
	case d.LatClampUs < 0:
		return invalid(FieldLatClampUs, "negative")
	case d.LatTotalUs < 0:
		return invalid(FieldLatTotalUs, "negative")
	}
	return nil
}

// isUUID5 matches ^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$.
func isUUID5(s string) bool {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' || s[14] != '5' {
		return false
	}
	switch s[19] {
	case '8', '9', 'a', 'b':
	default:
		return false
	}
	return notHex(s[0:8])|notHex(s[9:13])|notHex(s[15:18])|notHex(s[20:23])|notHex(s[24:36]) == 0
}

// notHexTable[c] is 1 unless c is a lower-case hex digit.
var notHexTable = func() (t [256]byte) {
	for c := range t {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			t[c] = 1
		}
	}
	return t
}()

// notHex returns 0 when s is all lower-case hex digits (branch-free).
func notHex(s string) byte {
	var bad byte
	for i := 0; i < len(s); i++ {
		bad |= notHexTable[s[i]]
	}
	return bad
}

// isStreamID matches ^[0-9]+-[0-9]+$.
func isStreamID(s string) bool {
	dash := -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
		case c == '-' && dash < 0:
			dash = i
		default:
			return false
		}
	}
	return dash > 0 && dash < len(s)-1
}

// isLowerHex matches ^[0-9a-f]{n}$.
func isLowerHex(s string, n int) bool { return len(s) == n && notHex(s) == 0 }

// isRuleName matches ^[a-z][a-z0-9_]*$.
func isRuleName(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// noComma matches ^[^,]*$.
func noComma(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			return false
		}
	}
	return true
}
