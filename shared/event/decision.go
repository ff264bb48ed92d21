package event

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DecisionSchemaVersion is the version of the decision-log layout below.
const DecisionSchemaVersion = "1"

// DecisionPath says which path produced a decision (field decision_path).
type DecisionPath string

// Decision paths.
const (
	// PathDeterministic: the versioned risk policy (score + thresholds)
	// requested the action, the clamp bounded it, no exploration happened.
	PathDeterministic DecisionPath = "deterministic"
	// PathFailOpen: something needed for a real decision was missing (bad
	// input, feature store down or slow); the decision is IGNORE and
	// failure_reason says why.
	PathFailOpen DecisionPath = "fail_open"
	// PathExplore: epsilon exploration replaced the clamped action with a
	// gentler allowed one (behaviour_prob < 1 tells how likely that was).
	PathExplore DecisionPath = "explore"
	// PathPolicyShadow and PathPolicyRollout are reserved for the learned
	// (ONNX) policy: shadow logs its proposal next to the deterministic
	// decision, rollout lets it decide.
	PathPolicyShadow  DecisionPath = "policy_shadow"
	PathPolicyRollout DecisionPath = "policy_rollout"
)

// Failure reasons (field failure_reason). Empty means none.
const (
	FailureBadInput            = "bad_input"             // the chat entry did not decode
	FailureFeatureStoreTimeout = "feature_store_timeout" // the feature-store round trip ran out of time
	FailureFeatureStoreError   = "feature_store_error"   // the feature store answered with an error or was unreachable
)

// DecisionSnapshotNames names, in order, the values of Decision.Snapshot: the
// feature-store state of the author and channel just BEFORE the message (see
// decide/internal/features.Snapshot). Counts are integers, times Unix
// milliseconds (0 = never), flags 0/1.
var DecisionSnapshotNames = [...]string{
	"user_msg_count",     // messages from the user in the channel (within the user TTL)
	"user_msgs_10s",      // ... in the last 10 s (by message time)
	"user_msgs_60s",      // ... in the last 60 s
	"first_seen_ms",      // first message from the user in the channel
	"last_msg_ms",        // the user's previous message in the channel
	"same_as_last",       // same normalised-text hash as the user's previous message
	"sys_warns",          // WARNs this system executed on the user in the channel
	"sys_deletes",        // DELETEs by this system
	"sys_timeouts",       // TIMEOUTs by this system
	"human_deletes",      // message deletions by human moderators
	"human_timeouts",     // timeouts by human moderators (minus untimeouts)
	"human_bans",         // bans by human moderators (minus unbans)
	"last_sys_action_ms", // this system's last non-IGNORE action on the user
	"last_sys_warn_ms",   // this system's last WARN on the user
	"chan_msgs_10s",      // channel messages in the last 10 one-second buckets
	"chan_msgs_60s",      // channel messages in the last 60 one-second buckets
	"raid_active",        // raid mode (raid event within the raid window, or velocity threshold)
	"dup_count_60s",      // channel messages with the same normalised hash in the last ~60 s
}

// DecisionSnapshotLen is len(DecisionSnapshotNames).
const DecisionSnapshotLen = len(DecisionSnapshotNames)

// DecisionMsgFeatureNames names, in order, the values of
// Decision.MsgFeatures: the message features computed from the text
// (decide/internal/features.Message), all that the state vector needs
// besides the trust flags and the snapshot. Counts are code points unless
// named otherwise; *_ratio values are float32 in [0, 1]; flags 0/1;
// first_term is -1 when no blocked term matched.
var DecisionMsgFeatureNames = [...]string{
	"runes", "letters", "upper", "lower", "symbols", "longest_run", "repeat_chars",
	"links", "allowed_links", "mentions", "emote_count", "emote_chars", "term_hits", "first_term",
	"combining_marks", "art_chars", "obfuscated_chars", "reply_stripped", "truncated",
	"caps_ratio", "symbol_ratio", "repeat_ratio", "emote_ratio", "zalgo_ratio", "art_ratio", "obfuscation_ratio",
}

// DecisionMsgFeatureLen is len(DecisionMsgFeatureNames).
const DecisionMsgFeatureLen = len(DecisionMsgFeatureNames)

// NumDiscreteActions is len(DiscreteActions).
const NumDiscreteActions = len(DiscreteActions)

// Decision is one entry of the decision log (the decisions stream): exactly
// one per chat stream entry, written atomically with the XACK of that entry.
// It holds everything needed to recompute the decision (`decide replay`) and
// to use it for offline RL and off-policy evaluation. Stream field names,
// wire types and units follow each field; "CSV" is a comma-separated list
// without spaces; floats are written in the shortest form that parses back
// to the same bits; booleans are "0"/"1"; nothing is nullable: absent values
// are "" (strings) or 0.
type Decision struct {
	// decision_id (string, UUID v5): deterministic id of the decision,
	// SHA-1 name-based over "<src_id>/<msg_id>" (see DecisionID); replaying
	// the same entry yields the same id. Join key for rewards; idempotency
	// key of the executed action; seed of the exploration draw.
	DecisionID string
	// src_id (string): the chat stream entry ID this decision answers.
	SrcID string
	// msg_id, room_id, channel, user_id, login (strings): copied from the
	// chat event (Twitch message id, channel user id, channel login, author
	// user id, author login).
	MsgID, RoomID, Channel, UserID, Login string

	// tmi_sent_ts (int, Unix ms): Twitch's server time of the message (0 if
	// Twitch did not send it).
	TmiSentTsMs int64
	// received_at_us (int, Unix µs): when ingest read the message.
	ReceivedAtUs int64
	// read_at_us (int, Unix µs): when decide's XREADGROUP returned the batch.
	ReadAtUs int64
	// decided_at_us (int, Unix µs): when the decision (after clamp and
	// exploration) was made, before it was written.
	DecidedAtUs int64
	// event_time_ms (int, Unix ms): the decision's clock: tmi_sent_ts, or
	// received_at_us/1000 when tmi_sent_ts is 0, or read_at_us/1000 when both
	// are 0. Feature windows, ages and clamp cooldowns use only this time, so
	// a replay is deterministic.
	EventTimeMs int64

	// broadcaster, moderator, vip, subscriber, first_msg, returning_chatter,
	// is_reply, is_action (0/1) and sub_months (int): the author's trust
	// flags from the chat event (inputs of the vector and the clamp).
	Broadcaster, Moderator, VIP, Subscriber       bool
	SubMonths                                     int32
	FirstMsg, ReturningChatter, IsReply, IsAction bool

	// feature_set (string): version of the state-vector layout, e.g. "fs-1"
	// (schemas/features/<feature_set>.json names the values).
	FeatureSet string
	// features (CSV of float32): the state vector s, in feature_set order.
	// Empty when the entry did not decode (failure_reason bad_input).
	Features []float32
	// msg_features (CSV of numbers): the message features, in
	// DecisionMsgFeatureNames order (DecisionMsgFeatureLen values, or empty
	// for bad_input).
	MsgFeatures []float64
	// text_hash (string, 16 lower-case hex digits): XXH64 of the normalised
	// text ("0000000000000000" when empty); keys the copypasta counter.
	TextHash uint64
	// snapshot (CSV of ints): the feature-store state before this message,
	// in DecisionSnapshotNames order (all zero when the store failed).
	Snapshot [DecisionSnapshotLen]int64

	// risk_score (float64 in [0, 1]): the deterministic risk score.
	RiskScore float64
	// action_deterministic (action string, e.g. "WARN", "TIMEOUT_600"): what
	// the deterministic risk policy asked for.
	ActionDeterministic Action
	// action_requested (action string): what the deciding policy asked for;
	// equals action_deterministic on the deterministic path.
	ActionRequested Action
	// action_final (action string): what was executed (after the clamp and
	// exploration); always one of DiscreteActions.
	ActionFinal Action
	// action_final_idx (int 0..NumDiscreteActions-1): index of action_final
	// in DiscreteActions (action_set).
	ActionFinalIdx int
	// clamp_rules (CSV of rule names, "" when none): the clamp rules that
	// changed the greedy action (see decide/internal/clamp RULES.md).
	ClampRules []string
	// over_budget (0/1): the decision path had used up its latency budget
	// before the clamp ran (clamp input; logged so replay is deterministic).
	OverBudget bool
	// decision_path (enum): deterministic | fail_open | explore |
	// policy_shadow | policy_rollout.
	Path DecisionPath
	// failure_reason (enum, "" when none): bad_input |
	// feature_store_timeout | feature_store_error.
	FailureReason string
	// policy_version (string): version of the risk policy file that scored
	// the message ("" for bad_input).
	PolicyVersion string
	// clamp_version (string): 12 hex digits of the SHA-256 of the clamp
	// limits in effect; replay refuses to compare across clamp versions.
	ClampVersion string
	// action_set (string): layout of DiscreteActions, e.g. "as-1".
	ActionSet string

	// explore_eps (float64): exploration probability epsilon in effect.
	ExploreEps float64
	// explore_draw (float64 in [0, 1)): the uniform draw that decided
	// exploration (explored iff draw < eps and a gentler action was allowed).
	ExploreDraw float64
	// explored (0/1): exploration changed the action.
	Explored bool
	// behaviour_prob (float64 in (0, 1]): probability with which the
	// behaviour policy executes action_final in this state (the propensity
	// for IPS/DR); 1 when nothing was random.
	BehaviourProb float64
	// probs (CSV of NumDiscreteActions float64): the behaviour distribution
	// over DiscreteActions (zero for actions the clamp forbids; sums to 1).
	Probs [NumDiscreteActions]float64

	// lat_decode_us, lat_features_us, lat_store_us, lat_score_us,
	// lat_clamp_us, lat_total_us (ints, µs): where the time went. decode,
	// features, score and clamp are this message's share; store is the
	// batch's one feature-store round trip; total is read_at to decided_at.
	LatDecodeUs, LatFeaturesUs, LatStoreUs, LatScoreUs, LatClampUs, LatTotalUs int64

	// consumer (string): the decide consumer (worker) name that decided.
	Consumer string
}

// Stream field names of Decision that Chat does not already name.
const (
	FieldDecisionID          = "decision_id"
	FieldSrcID               = "src_id"
	FieldReadAtUs            = "read_at_us"
	FieldDecidedAtUs         = "decided_at_us"
	FieldEventTimeMs         = "event_time_ms"
	FieldIsReply             = "is_reply"
	FieldFeatureSet          = "feature_set"
	FieldFeatures            = "features"
	FieldMsgFeatures         = "msg_features"
	FieldTextHash            = "text_hash"
	FieldSnapshot            = "snapshot"
	FieldRiskScore           = "risk_score"
	FieldActionDeterministic = "action_deterministic"
	FieldActionRequested     = "action_requested"
	FieldActionFinal         = "action_final"
	FieldActionFinalIdx      = "action_final_idx"
	FieldClampRules          = "clamp_rules"
	FieldOverBudget          = "over_budget"
	FieldDecisionPath        = "decision_path"
	FieldFailureReason       = "failure_reason"
	FieldPolicyVersion       = "policy_version"
	FieldClampVersion        = "clamp_version"
	FieldActionSet           = "action_set"
	FieldExploreEps          = "explore_eps"
	FieldExploreDraw         = "explore_draw"
	FieldExplored            = "explored"
	FieldBehaviourProb       = "behaviour_prob"
	FieldProbs               = "probs"
	FieldLatDecodeUs         = "lat_decode_us"
	FieldLatFeaturesUs       = "lat_features_us"
	FieldLatStoreUs          = "lat_store_us"
	FieldLatScoreUs          = "lat_score_us"
	FieldLatClampUs          = "lat_clamp_us"
	FieldLatTotalUs          = "lat_total_us"
	FieldConsumer            = "consumer"
)

// DecisionFields is the number of field/value pairs Values writes (size
// dst with 2*DecisionFields to avoid growing it).
const DecisionFields = 51

// Values appends the stream entry's field/value pairs for d to dst.
func (d *Decision) Values(dst []any) []any {
	var buf [64]byte
	i64 := func(v int64) string { return string(strconv.AppendInt(buf[:0], v, 10)) }
	f64 := func(v float64) string { return string(strconv.AppendFloat(buf[:0], v, 'g', -1, 64)) }
	return append(dst,
		FieldSchemaVersion, DecisionSchemaVersion,
		FieldDecisionID, d.DecisionID,
		FieldSrcID, d.SrcID,
		FieldMsgID, d.MsgID,
		FieldRoomID, d.RoomID,
		FieldChannel, d.Channel,
		FieldUserID, d.UserID,
		FieldLogin, d.Login,
		FieldTmiSentTs, i64(d.TmiSentTsMs),
		FieldReceivedAtUs, i64(d.ReceivedAtUs),
		FieldReadAtUs, i64(d.ReadAtUs),
		FieldDecidedAtUs, i64(d.DecidedAtUs),
		FieldEventTimeMs, i64(d.EventTimeMs),
		FieldBroadcaster, b01(d.Broadcaster),
		FieldModerator, b01(d.Moderator),
		FieldVIP, b01(d.VIP),
		FieldSubscriber, b01(d.Subscriber),
		FieldSubMonths, i64(int64(d.SubMonths)),
		FieldFirstMsg, b01(d.FirstMsg),
		FieldReturning, b01(d.ReturningChatter),
		FieldIsReply, b01(d.IsReply),
		FieldIsAction, b01(d.IsAction),
		FieldFeatureSet, d.FeatureSet,
		FieldFeatures, formatFloat32s(d.Features),
		FieldMsgFeatures, formatFloat64s(d.MsgFeatures),
		FieldTextHash, formatHash(d.TextHash),
		FieldSnapshot, formatInts(d.Snapshot[:]),
		FieldRiskScore, f64(d.RiskScore),
		FieldActionDeterministic, d.ActionDeterministic.String(),
		FieldActionRequested, d.ActionRequested.String(),
		FieldActionFinal, d.ActionFinal.String(),
		FieldActionFinalIdx, i64(int64(d.ActionFinalIdx)),
		FieldClampRules, strings.Join(d.ClampRules, ","),
		FieldOverBudget, b01(d.OverBudget),
		FieldDecisionPath, string(d.Path),
		FieldFailureReason, d.FailureReason,
		FieldPolicyVersion, d.PolicyVersion,
		FieldClampVersion, d.ClampVersion,
		FieldActionSet, d.ActionSet,
		FieldExploreEps, f64(d.ExploreEps),
		FieldExploreDraw, f64(d.ExploreDraw),
		FieldExplored, b01(d.Explored),
		FieldBehaviourProb, f64(d.BehaviourProb),
		FieldProbs, formatFloat64s(d.Probs[:]),
		FieldLatDecodeUs, i64(d.LatDecodeUs),
		FieldLatFeaturesUs, i64(d.LatFeaturesUs),
		FieldLatStoreUs, i64(d.LatStoreUs),
		FieldLatScoreUs, i64(d.LatScoreUs),
		FieldLatClampUs, i64(d.LatClampUs),
		FieldLatTotalUs, i64(d.LatTotalUs),
		FieldConsumer, d.Consumer,
	)
}

// DecodeDecision decodes a decisions stream entry's values. Unknown fields
// are ignored; a missing required field (decision_id, src_id, msg_id,
// action_final, decision_path), a malformed value or another schema version
// is a *DecodeError.
func DecodeDecision(vals map[string]any) (Decision, error) {
	d := decoder{vals: vals}
	if v := d.str(FieldSchemaVersion, true); d.err == nil && v != DecisionSchemaVersion {
		return Decision{}, &DecodeError{Field: FieldSchemaVersion, Err: fmt.Errorf("unsupported decision schema version %q (want %q)", v, DecisionSchemaVersion)}
	}
	x := Decision{
		DecisionID:       d.str(FieldDecisionID, true),
		SrcID:            d.str(FieldSrcID, true),
		MsgID:            d.str(FieldMsgID, true),
		RoomID:           d.str(FieldRoomID, false),
		Channel:          d.str(FieldChannel, false),
		UserID:           d.str(FieldUserID, false),
		Login:            d.str(FieldLogin, false),
		TmiSentTsMs:      d.int64(FieldTmiSentTs, false),
		ReceivedAtUs:     d.int64(FieldReceivedAtUs, false),
		ReadAtUs:         d.int64(FieldReadAtUs, false),
		DecidedAtUs:      d.int64(FieldDecidedAtUs, false),
		EventTimeMs:      d.int64(FieldEventTimeMs, false),
		Broadcaster:      d.bool(FieldBroadcaster),
		Moderator:        d.bool(FieldModerator),
		VIP:              d.bool(FieldVIP),
		Subscriber:       d.bool(FieldSubscriber),
		SubMonths:        int32(d.int64(FieldSubMonths, false)),
		FirstMsg:         d.bool(FieldFirstMsg),
		ReturningChatter: d.bool(FieldReturning),
		IsReply:          d.bool(FieldIsReply),
		IsAction:         d.bool(FieldIsAction),
		FeatureSet:       d.str(FieldFeatureSet, false),
		ActionFinalIdx:   int(d.int64(FieldActionFinalIdx, false)),
		OverBudget:       d.bool(FieldOverBudget),
		Path:             DecisionPath(d.str(FieldDecisionPath, true)),
		FailureReason:    d.str(FieldFailureReason, false),
		PolicyVersion:    d.str(FieldPolicyVersion, false),
		ClampVersion:     d.str(FieldClampVersion, false),
		ActionSet:        d.str(FieldActionSet, false),
		Explored:         d.bool(FieldExplored),
		LatDecodeUs:      d.int64(FieldLatDecodeUs, false),
		LatFeaturesUs:    d.int64(FieldLatFeaturesUs, false),
		LatStoreUs:       d.int64(FieldLatStoreUs, false),
		LatScoreUs:       d.int64(FieldLatScoreUs, false),
		LatClampUs:       d.int64(FieldLatClampUs, false),
		LatTotalUs:       d.int64(FieldLatTotalUs, false),
		Consumer:         d.str(FieldConsumer, false),
	}
	x.RiskScore = d.float64(FieldRiskScore)
	x.ExploreEps = d.float64(FieldExploreEps)
	x.ExploreDraw = d.float64(FieldExploreDraw)
	x.BehaviourProb = d.float64(FieldBehaviourProb)
	x.Features = d.float32s(FieldFeatures)
	x.MsgFeatures = d.float64s(FieldMsgFeatures, 0)
	if len(x.MsgFeatures) != 0 && len(x.MsgFeatures) != DecisionMsgFeatureLen && d.err == nil {
		d.err = &DecodeError{Field: FieldMsgFeatures, Err: fmt.Errorf("%d values, want %d", len(x.MsgFeatures), DecisionMsgFeatureLen)}
	}
	if s := d.str(FieldTextHash, false); s != "" {
		h, err := strconv.ParseUint(s, 16, 64)
		if err != nil && d.err == nil {
			d.err = &DecodeError{Field: FieldTextHash, Err: err}
		}
		x.TextHash = h
	}
	d.intsInto(FieldSnapshot, x.Snapshot[:])
	if p := d.float64s(FieldProbs, NumDiscreteActions); p != nil {
		copy(x.Probs[:], p)
	}
	if s := d.str(FieldClampRules, false); s != "" {
		x.ClampRules = strings.Split(s, ",")
	}
	x.ActionDeterministic = d.action(FieldActionDeterministic, false)
	x.ActionRequested = d.action(FieldActionRequested, false)
	x.ActionFinal = d.action(FieldActionFinal, true)
	if d.err != nil {
		return Decision{}, d.err
	}
	if x.DecisionID == "" || x.MsgID == "" || x.SrcID == "" {
		return Decision{}, &DecodeError{Field: FieldDecisionID, Err: errors.New("decision_id, src_id and msg_id must not be empty")}
	}
	return x, nil
}

func (d *decoder) float64(field string) float64 {
	s := d.str(field, false)
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && d.err == nil {
		d.err = &DecodeError{Field: field, Err: err}
	}
	return f
}

func (d *decoder) action(field string, required bool) Action {
	s := d.str(field, required)
	if s == "" {
		return Action{}
	}
	a, err := ParseAction(s)
	if err != nil && d.err == nil {
		d.err = &DecodeError{Field: field, Err: err}
	}
	return a
}

// float64s parses a CSV of floats; want > 0 requires exactly want values
// (or none).
func (d *decoder) float64s(field string, want int) []float64 {
	s := d.str(field, false)
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	if want > 0 && len(parts) != want {
		if d.err == nil {
			d.err = &DecodeError{Field: field, Err: fmt.Errorf("%d values, want %d", len(parts), want)}
		}
		return nil
	}
	out := make([]float64, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil {
			if d.err == nil {
				d.err = &DecodeError{Field: field, Err: err}
			}
			return nil
		}
		out[i] = f
	}
	return out
}

func (d *decoder) float32s(field string) []float32 {
	s := d.str(field, false)
	if s == "" {
		return nil
	}
	parts := strings.Split(s, ",")
	out := make([]float32, len(parts))
	for i, p := range parts {
		f, err := strconv.ParseFloat(p, 32)
		if err != nil {
			if d.err == nil {
				d.err = &DecodeError{Field: field, Err: err}
			}
			return nil
		}
		out[i] = float32(f)
	}
	return out
}

func (d *decoder) intsInto(field string, dst []int64) {
	s := d.str(field, false)
	if s == "" {
		return
	}
	parts := strings.Split(s, ",")
	if len(parts) != len(dst) {
		if d.err == nil {
			d.err = &DecodeError{Field: field, Err: fmt.Errorf("%d values, want %d", len(parts), len(dst))}
		}
		return
	}
	for i, p := range parts {
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			if d.err == nil {
				d.err = &DecodeError{Field: field, Err: err}
			}
			return
		}
		dst[i] = n
	}
}

func formatFloat32s(v []float32) string {
	if len(v) == 0 {
		return ""
	}
	b := make([]byte, 0, len(v)*10)
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(f), 'g', -1, 32)
	}
	return string(b)
}

func formatFloat64s(v []float64) string {
	if len(v) == 0 {
		return ""
	}
	b := make([]byte, 0, len(v)*12)
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	return string(b)
}

func formatInts(v []int64) string {
	b := make([]byte, 0, len(v)*6)
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return string(b)
}

func formatHash(h uint64) string {
	var b [16]byte
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = hex[h&0xf]
		h >>= 4
	}
	return string(b[:])
}

// DecisionID returns the deterministic decision id for chat entry srcID
// carrying msgID: a name-based (SHA-1, version 5) UUID in the
// DecisionNamespace over "<srcID>/<msgID>".
func DecisionID(srcID, msgID string) string {
	return uuid5(decisionNamespace, srcID+"/"+msgID)
}

// decisionNamespace is the UUID namespace of decision ids (a fixed random
// UUID, 7c1b0d52-5b8e-4d0e-9a55-6f1f0b1e7a11).
var decisionNamespace = [16]byte{0x7c, 0x1b, 0x0d, 0x52, 0x5b, 0x8e, 0x4d, 0x0e, 0x9a, 0x55, 0x6f, 0x1f, 0x0b, 0x1e, 0x7a, 0x11}
