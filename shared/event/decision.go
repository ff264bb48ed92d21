package event

import (
	"errors"
	"fmt"
	"math"
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

// DecisionPaths lists every DecisionPath.
var DecisionPaths = [...]DecisionPath{PathDeterministic, PathFailOpen, PathExplore, PathPolicyShadow, PathPolicyRollout}

// Failure reasons (field failure_reason). Empty means none.
const (
	FailureBadInput            = "bad_input"             // the chat entry did not decode
	FailureFeatureStoreTimeout = "feature_store_timeout" // the feature-store round trip ran out of time
	FailureFeatureStoreError   = "feature_store_error"   // the feature store answered with an error or was unreachable
)

// FailureReasons lists every value of Decision.FailureReason, "" (none)
// first.
var FailureReasons = [...]string{"", FailureBadInput, FailureFeatureStoreTimeout, FailureFeatureStoreError}

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

// Grouped fields of a decision entry: each holds several values as a CSV in
// the order below (Decision's doc comment gives every value's type). A
// decision is ~27 stream fields instead of ~50: Redis pays per field for
// every XADD and every read, so the grouping roughly halves the Redis CPU of
// writing the decision log.
const (
	FieldTimes    = "times"    // DecisionTimesNames
	FieldTrust    = "trust"    // DecisionTrustNames
	FieldActions  = "actions"  // DecisionActionsNames
	FieldVersions = "versions" // DecisionVersionsNames
	FieldExplore  = "explore"  // DecisionExploreNames
	FieldLatUs    = "lat_us"   // DecisionLatNames
)

// The values of each grouped field, in order.
var (
	DecisionTimesNames    = [...]string{FieldTmiSentTs, FieldReceivedAtUs, FieldDecidedAtUs, FieldEventTimeMs}
	DecisionTrustNames    = [...]string{FieldBroadcaster, FieldModerator, FieldVIP, FieldSubscriber, FieldSubMonths, FieldFirstMsg, FieldReturning, FieldIsReply, FieldIsAction}
	DecisionActionsNames  = [...]string{FieldActionDeterministic, FieldActionRequested, FieldActionFinalIdx}
	DecisionVersionsNames = [...]string{FieldFeatureSet, FieldPolicyVersion, FieldClampVersion, FieldActionSet}
	DecisionExploreNames  = [...]string{FieldExploreEps, FieldExploreDraw, FieldExplored, FieldBehaviourProb}
	DecisionLatNames      = [...]string{FieldLatDecodeUs, FieldLatFeaturesUs, FieldLatStoreUs, FieldLatScoreUs, FieldLatClampUs, FieldLatTotalUs}
)

// Decision is one entry of the decision log (the decisions stream): exactly
// one per chat stream entry, written atomically with the XACK of that entry.
// It holds everything needed to recompute the decision (`decide replay`) and
// to use it for offline RL and off-policy evaluation. Each field's comment
// gives its value's name, wire type and unit, and the stream field that
// holds it: its own field of that name, or a position in one of the grouped
// fields (times, trust, actions, versions, explore, lat_us: CSVs in the
// order of the Decision*Names arrays). "CSV" is a comma-separated list
// without spaces; floats are written in the shortest form that parses back
// to the same bits; booleans are "0"/"1"; nothing is nullable: absent values
// are "" (strings) or 0.
//
// Its JSON form (MarshalJSON; schemas/log_event.json) has one property per
// value, named by the json tags (the names above), plus schema_version;
// Validate checks the constraints of that schema without allocating.
type Decision struct {
	// decision_id (string, UUID v5): deterministic id of the decision,
	// SHA-1 name-based over "<src_id>/<msg_id>" (see DecisionID); replaying
	// the same entry yields the same id. Join key for rewards; idempotency
	// key of the executed action; seed of the exploration draw.
	DecisionID string `json:"decision_id"`
	// src_id (string): the chat stream entry ID this decision answers.
	SrcID string `json:"src_id"`
	// msg_id, room_id, channel, user_id, login (strings): copied from the
	// chat event (Twitch message id, channel user id, channel login, author
	// user id, author login).
	MsgID   string `json:"msg_id"`
	RoomID  string `json:"room_id"`
	Channel string `json:"channel"`
	UserID  string `json:"user_id"`
	Login   string `json:"login"`

	// tmi_sent_ts (int, Unix ms; times[0]): Twitch's server time of the
	// message (0 if Twitch did not send it).
	TmiSentTsMs int64 `json:"tmi_sent_ts"`
	// received_at_us (int, Unix µs; times[1]): when ingest read the message.
	ReceivedAtUs int64 `json:"received_at_us"`
	// read_at_us (int, Unix µs; own field): when decide's XREADGROUP
	// returned the batch.
	ReadAtUs int64 `json:"read_at_us"`
	// decided_at_us (int, Unix µs; times[2]): when the decision (after
	// clamp and exploration) was made, before it was written.
	DecidedAtUs int64 `json:"decided_at_us"`
	// event_time_ms (int, Unix ms; times[3]): the decision's clock:
	// tmi_sent_ts, or received_at_us/1000 when tmi_sent_ts is 0, or
	// read_at_us/1000 when both are 0. Feature windows, ages and clamp
	// cooldowns use only this time, so a replay is deterministic.
	EventTimeMs int64 `json:"event_time_ms"`

	// broadcaster, moderator, vip, subscriber (0/1; trust[0..3]),
	// sub_months (int; trust[4]), first_msg, returning_chatter, is_reply,
	// is_action (0/1; trust[5..8]): the author's trust flags from the chat
	// event (inputs of the vector and the clamp).
	Broadcaster      bool  `json:"broadcaster"`
	Moderator        bool  `json:"moderator"`
	VIP              bool  `json:"vip"`
	Subscriber       bool  `json:"subscriber"`
	SubMonths        int32 `json:"sub_months"`
	FirstMsg         bool  `json:"first_msg"`
	ReturningChatter bool  `json:"returning_chatter"`
	IsReply          bool  `json:"is_reply"`
	IsAction         bool  `json:"is_action"`

	// feature_set (string; versions[0]): version of the state-vector
	// layout, e.g. "fs-1" (schemas/features/<feature_set>.json names the
	// values).
	FeatureSet string `json:"feature_set"`
	// features (CSV of float32; own field): the state vector s, in
	// feature_set order. Empty when the entry did not decode (failure_reason
	// bad_input).
	Features []float32 `json:"features"`
	// msg_features (CSV of numbers; own field): the message features, in
	// DecisionMsgFeatureNames order (DecisionMsgFeatureLen values, or empty
	// for bad_input).
	MsgFeatures []float64 `json:"msg_features"`
	// text_hash (string, 16 lower-case hex digits; own field): XXH64 of the
	// normalised text ("0000000000000000" when empty); keys the copypasta
	// counter.
	TextHash uint64 `json:"text_hash"`
	// snapshot (CSV of ints; own field): the feature-store state before this
	// message, in DecisionSnapshotNames order (all zero when the store
	// failed).
	Snapshot [DecisionSnapshotLen]int64 `json:"snapshot"`

	// risk_score (float64 in [0, 1]; own field): the deterministic risk
	// score.
	RiskScore float64 `json:"risk_score"`
	// action_deterministic (action string, e.g. "WARN", "TIMEOUT_600";
	// actions[0]): what the deterministic risk policy asked for.
	ActionDeterministic Action `json:"action_deterministic"`
	// action_requested (action string; actions[1]): what the deciding
	// policy asked for; equals action_deterministic on the deterministic
	// path.
	ActionRequested Action `json:"action_requested"`
	// action_final (action string; own field): what was executed (after the
	// clamp and exploration); always one of DiscreteActions.
	ActionFinal Action `json:"action_final"`
	// action_final_idx (int 0..NumDiscreteActions-1; actions[2]): index of
	// action_final in DiscreteActions (action_set).
	ActionFinalIdx int `json:"action_final_idx"`
	// clamp_rules (CSV of rule names, "" when none; own field): the clamp
	// rules that changed the greedy action (see decide/internal/clamp
	// RULES.md).
	ClampRules []string `json:"clamp_rules"`
	// over_budget (0/1; own field): the decision path had used up its
	// latency budget before the clamp ran (clamp input; logged so replay is
	// deterministic).
	OverBudget bool `json:"over_budget"`
	// decision_path (enum; own field): deterministic | fail_open | explore |
	// policy_shadow | policy_rollout.
	Path DecisionPath `json:"decision_path"`
	// failure_reason (enum, "" when none; own field): bad_input |
	// feature_store_timeout | feature_store_error.
	FailureReason string `json:"failure_reason"`
	// policy_version (string without commas; versions[1]): version of the
	// risk policy file that scored the message ("" for bad_input).
	PolicyVersion string `json:"policy_version"`
	// clamp_version (string; versions[2]): 12 hex digits of the SHA-256 of
	// the clamp limits in effect; replay refuses to compare across clamp
	// versions.
	ClampVersion string `json:"clamp_version"`
	// action_set (string; versions[3]): layout of DiscreteActions, e.g.
	// "as-1".
	ActionSet string `json:"action_set"`

	// explore_eps (float64; explore[0]): exploration probability epsilon in
	// effect.
	ExploreEps float64 `json:"explore_eps"`
	// explore_draw (float64 in [0, 1); explore[1]): the uniform draw that
	// decided exploration (explored iff draw < eps and a gentler action was
	// allowed).
	ExploreDraw float64 `json:"explore_draw"`
	// explored (0/1; explore[2]): exploration changed the action.
	Explored bool `json:"explored"`
	// behaviour_prob (float64 in (0, 1]; explore[3]): probability with which
	// the behaviour policy executes action_final in this state (the
	// propensity for IPS/DR); 1 when nothing was random.
	BehaviourProb float64 `json:"behaviour_prob"`
	// probs (CSV of NumDiscreteActions float64; own field): the behaviour
	// distribution over DiscreteActions (zero for actions the clamp forbids;
	// sums to 1).
	Probs [NumDiscreteActions]float64 `json:"probs"`

	// lat_decode_us, lat_features_us, lat_store_us, lat_score_us,
	// lat_clamp_us, lat_total_us (ints, µs; lat_us[0..5]): where the time
	// went. decode, features, score and clamp are this message's share;
	// store is the batch's one feature-store round trip; total is read_at
	// to decided_at.
	LatDecodeUs   int64 `json:"lat_decode_us"`
	LatFeaturesUs int64 `json:"lat_features_us"`
	LatStoreUs    int64 `json:"lat_store_us"`
	LatScoreUs    int64 `json:"lat_score_us"`
	LatClampUs    int64 `json:"lat_clamp_us"`
	LatTotalUs    int64 `json:"lat_total_us"`

	// consumer (string; own field): the decide consumer (worker) name that
	// decided.
	Consumer string `json:"consumer"`
}

// Names of Decision's values that Chat does not already name. Those of
// grouped values name positions in the grouped fields (and mismatches in
// `decide replay`), not stream fields.
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
const DecisionFields = 27

// decisionFieldNames are the stream fields Values writes, in order (boxed
// once: boxing a string that is not a constant allocates).
var decisionFieldNames = [DecisionFields]any{
	FieldSchemaVersion, FieldDecisionID, FieldSrcID, FieldMsgID, FieldRoomID, FieldChannel, FieldUserID, FieldLogin,
	FieldReadAtUs, FieldTimes, FieldTrust, FieldFeatures, FieldMsgFeatures, FieldTextHash, FieldSnapshot,
	FieldRiskScore, FieldActions, FieldActionFinal, FieldClampRules, FieldOverBudget, FieldDecisionPath,
	FieldFailureReason, FieldVersions, FieldExplore, FieldProbs, FieldLatUs, FieldConsumer,
}

// DecisionValues are the encoded stream values of a decision, in the order
// of its stream fields (see Values).
type DecisionValues [DecisionFields]string

// Values appends the stream entry's field/value pairs for d to dst.
func (d *Decision) Values(dst []any) []any {
	var v DecisionValues
	d.Encode(&v)
	for i := range v {
		dst = append(dst, decisionFieldNames[i], v[i])
	}
	return dst
}

// Field returns the stream field name and the value of v's i-th pair
// (0 <= i < DecisionFields).
func (v *DecisionValues) Field(i int) (name, value string) {
	return decisionFieldNames[i].(string), v[i]
}

// Encode writes d's stream values into v. All of them are formatted into
// one buffer that becomes one string: a decision costs one allocation.
func (d *Decision) Encode(v *DecisionValues) {
	var arr [2048]byte
	b := arr[:0]
	var ends [DecisionFields]int // end offset in b of each field's value
	k := 0
	end := func(n int) { ends[k] = n; k++ }
	b = append(b, DecisionSchemaVersion...)
	end(len(b))
	b = append(b, d.DecisionID...)
	end(len(b))
	b = append(b, d.SrcID...)
	end(len(b))
	b = append(b, d.MsgID...)
	end(len(b))
	b = append(b, d.RoomID...)
	end(len(b))
	b = append(b, d.Channel...)
	end(len(b))
	b = append(b, d.UserID...)
	end(len(b))
	b = append(b, d.Login...)
	end(len(b))
	b = strconv.AppendInt(b, d.ReadAtUs, 10)
	end(len(b))
	b = appendInts(b, d.TmiSentTsMs, d.ReceivedAtUs, d.DecidedAtUs, d.EventTimeMs)
	end(len(b))
	b = appendInts(b, i01(d.Broadcaster), i01(d.Moderator), i01(d.VIP), i01(d.Subscriber), int64(d.SubMonths),
		i01(d.FirstMsg), i01(d.ReturningChatter), i01(d.IsReply), i01(d.IsAction))
	end(len(b))
	b = appendFloat32s(b, d.Features)
	end(len(b))
	b = appendFloat64s(b, d.MsgFeatures)
	end(len(b))
	b = appendHash(b, d.TextHash)
	end(len(b))
	b = appendInts(b, d.Snapshot[:]...)
	end(len(b))
	b = appendFloat(b, d.RiskScore, 64)
	end(len(b))
	b = appendAction(b, d.ActionDeterministic)
	b = append(b, ',')
	b = appendAction(b, d.ActionRequested)
	b = append(b, ',')
	b = strconv.AppendInt(b, int64(d.ActionFinalIdx), 10)
	end(len(b))
	b = appendAction(b, d.ActionFinal)
	end(len(b))
	for i, r := range d.ClampRules {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, r...)
	}
	end(len(b))
	b = strconv.AppendInt(b, i01(d.OverBudget), 10)
	end(len(b))
	b = append(b, d.Path...)
	end(len(b))
	b = append(b, d.FailureReason...)
	end(len(b))
	b = append(b, d.FeatureSet...)
	b = append(b, ',')
	b = append(b, d.PolicyVersion...)
	b = append(b, ',')
	b = append(b, d.ClampVersion...)
	b = append(b, ',')
	b = append(b, d.ActionSet...)
	end(len(b))
	b = appendFloat(b, d.ExploreEps, 64)
	b = append(b, ',')
	b = appendFloat(b, d.ExploreDraw, 64)
	b = append(b, ',')
	b = strconv.AppendInt(b, i01(d.Explored), 10)
	b = append(b, ',')
	b = appendFloat(b, d.BehaviourProb, 64)
	end(len(b))
	b = appendFloat64s(b, d.Probs[:])
	end(len(b))
	b = appendInts(b, d.LatDecodeUs, d.LatFeaturesUs, d.LatStoreUs, d.LatScoreUs, d.LatClampUs, d.LatTotalUs)
	end(len(b))
	b = append(b, d.Consumer...)
	end(len(b))

	s := string(b)
	start := 0
	for i := range v {
		v[i] = s[start:ends[i]]
		start = ends[i]
	}
}

// DecodeDecision decodes a decisions stream entry's values. Unknown fields
// are ignored; a missing required field (decision_id, src_id, msg_id,
// action_final, decision_path), a malformed value or another schema version
// is a *DecodeError (Field names the stream field).
func DecodeDecision(vals map[string]any) (Decision, error) {
	return decodeDecision(decoder{vals: vals})
}

// DecodeDecisionFields is DecodeDecision of flat fields.
func DecodeDecisionFields(f Fields) (Decision, error) { return decodeDecision(decoder{flat: f}) }

func decodeDecision(d decoder) (Decision, error) {
	// Fields are read in the order Values writes them, so that a decoder of
	// flat fields finds each one where the previous one ended.
	if _, ok := d.version("decision", DecisionSchemaVersion); !ok {
		return Decision{}, d.err
	}
	var x Decision
	x.DecisionID = d.str(FieldDecisionID, true)
	x.SrcID = d.str(FieldSrcID, true)
	x.MsgID = d.str(FieldMsgID, true)
	x.RoomID = d.str(FieldRoomID, false)
	x.Channel = d.str(FieldChannel, false)
	x.UserID = d.str(FieldUserID, false)
	x.Login = d.str(FieldLogin, false)
	x.ReadAtUs = d.int64(FieldReadAtUs, false)
	var times [len(DecisionTimesNames)]int64
	d.intsInto(FieldTimes, times[:])
	x.TmiSentTsMs, x.ReceivedAtUs, x.DecidedAtUs, x.EventTimeMs = times[0], times[1], times[2], times[3]
	var trust [len(DecisionTrustNames)]int64
	d.intsInto(FieldTrust, trust[:])
	d.flags(FieldTrust, DecisionTrustNames[:], trust[:], &x.Broadcaster, &x.Moderator, &x.VIP, &x.Subscriber, nil, // sub_months
		&x.FirstMsg, &x.ReturningChatter, &x.IsReply, &x.IsAction)
	x.SubMonths = int32(trust[4])
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
	x.RiskScore = d.float64(FieldRiskScore)
	if v, ok := d.group(FieldActions, len(DecisionActionsNames)); ok {
		x.ActionDeterministic = d.parseAction(FieldActions, v[0])
		x.ActionRequested = d.parseAction(FieldActions, v[1])
		n, err := strconv.Atoi(v[2])
		if err != nil {
			d.fail(FieldActions, fmt.Errorf("%s: %w", FieldActionFinalIdx, err))
		}
		x.ActionFinalIdx = n
	}
	x.ActionFinal = d.action(FieldActionFinal, true)
	if s := d.str(FieldClampRules, false); s != "" {
		x.ClampRules = strings.Split(s, ",")
	}
	x.OverBudget = d.bool(FieldOverBudget)
	x.Path = DecisionPath(d.str(FieldDecisionPath, true))
	x.FailureReason = d.str(FieldFailureReason, false)
	if v, ok := d.group(FieldVersions, len(DecisionVersionsNames)); ok {
		x.FeatureSet, x.PolicyVersion, x.ClampVersion, x.ActionSet = v[0], v[1], v[2], v[3]
	}
	if v, ok := d.group(FieldExplore, len(DecisionExploreNames)); ok {
		x.ExploreEps = d.parseFloat(FieldExplore, v[0])
		x.ExploreDraw = d.parseFloat(FieldExplore, v[1])
		switch v[2] {
		case "0":
		case "1":
			x.Explored = true
		default:
			d.fail(FieldExplore, fmt.Errorf("%s: want 0 or 1, got %q", FieldExplored, v[2]))
		}
		x.BehaviourProb = d.parseFloat(FieldExplore, v[3])
	}
	if p := d.float64s(FieldProbs, NumDiscreteActions); p != nil {
		copy(x.Probs[:], p)
	}
	var lat [len(DecisionLatNames)]int64
	d.intsInto(FieldLatUs, lat[:])
	x.LatDecodeUs, x.LatFeaturesUs, x.LatStoreUs, x.LatScoreUs, x.LatClampUs, x.LatTotalUs = lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]
	x.Consumer = d.str(FieldConsumer, false)
	if d.err != nil {
		return Decision{}, d.err
	}
	if x.DecisionID == "" || x.MsgID == "" || x.SrcID == "" {
		return Decision{}, &DecodeError{Field: FieldDecisionID, Err: errors.New("decision_id, src_id and msg_id must not be empty")}
	}
	return x, nil
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Err: err}
	}
}

// group splits a grouped field into exactly n values (n <= maxGroup); ok
// is false when the field is absent (or malformed, which is recorded).
func (d *decoder) group(field string, n int) (vals [maxGroup]string, ok bool) {
	s := d.str(field, false)
	if s == "" {
		return vals, false
	}
	k := 0
	for more := true; more; k++ {
		var v string
		v, s, more = cutComma(s)
		if k < n {
			vals[k] = v
		}
	}
	if k != n {
		d.fail(field, fmt.Errorf("%d values, want %d", k, n))
		return vals, false
	}
	return vals, true
}

// maxGroup is the most values a grouped field holds (trust).
const maxGroup = len(DecisionTrustNames)

// cutComma returns the text before the first comma of s and the text after
// it; more is false when s has no comma (then field is s).
func cutComma(s string) (field, rest string, more bool) {
	if i := strings.IndexByte(s, ','); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// countValues returns the number of comma-separated values in s (s != "").
func countValues(s string) int { return strings.Count(s, ",") + 1 }

// parseNumber parses a float written by appendFloat, taking a fast path for
// the short integers it writes for whole numbers (most message features,
// counts and flags): those convert exactly.
func parseNumber(s string, bitSize int) (float64, error) {
	if n := len(s); n > 0 && n <= 15 {
		i, neg := 0, false
		if s[0] == '-' {
			i, neg = 1, true
		}
		if i < n {
			var v int64
			j := i
			for ; j < n && s[j] >= '0' && s[j] <= '9'; j++ {
				v = v*10 + int64(s[j]-'0')
			}
			if j == n && !(neg && v == 0) { // "-0" keeps its sign: slow path
				if neg {
					v = -v
				}
				return float64(v), nil
			}
		}
	}
	return strconv.ParseFloat(s, bitSize)
}

func (d *decoder) parseFloat(field, s string) float64 {
	if s == "" {
		return 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		d.fail(field, err)
	}
	return f
}

func (d *decoder) parseAction(field, s string) Action {
	if s == "" {
		return Action{}
	}
	a, err := ParseAction(s)
	if err != nil {
		d.fail(field, err)
	}
	return a
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
	n := countValues(s)
	if want > 0 && n != want {
		d.fail(field, fmt.Errorf("%d values, want %d", n, want))
		return nil
	}
	out := make([]float64, n)
	for i := range out {
		var p string
		p, s, _ = cutComma(s)
		f, err := parseNumber(p, 64)
		if err != nil {
			d.fail(field, err)
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
	out := make([]float32, countValues(s))
	for i := range out {
		var p string
		p, s, _ = cutComma(s)
		f, err := parseNumber(p, 32)
		if err != nil {
			d.fail(field, err)
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
	if n := countValues(s); n != len(dst) {
		d.fail(field, fmt.Errorf("%d values, want %d", n, len(dst)))
		return
	}
	for i := range dst {
		var p string
		p, s, _ = cutComma(s)
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			d.fail(field, err)
			return
		}
		dst[i] = n
	}
}

func i01(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// appendAction appends a.String() without allocating.
func appendAction(b []byte, a Action) []byte {
	if a.Kind == Timeout {
		return strconv.AppendInt(append(b, "TIMEOUT_"...), int64(a.DurationS), 10)
	}
	return append(b, a.Kind.String()...)
}

func appendInts(b []byte, v ...int64) []byte {
	for i, n := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return b
}

// appendFloat appends f in the shortest form that parses back to the same
// bits (strconv 'g', -1), taking a fast path for small whole numbers, which
// 'g' writes the same way as an integer.
func appendFloat(b []byte, f float64, bitSize int) []byte {
	if f == math.Trunc(f) && f > -1e6 && f < 1e6 && (f != 0 || !math.Signbit(f)) {
		return strconv.AppendInt(b, int64(f), 10)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bitSize)
}

func appendFloat32s(b []byte, v []float32) []byte {
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, float64(f), 32)
	}
	return b
}

func appendFloat64s(b []byte, v []float64) []byte {
	for i, f := range v {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendFloat(b, f, 64)
	}
	return b
}

func appendHash(b []byte, h uint64) []byte {
	const hex = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, hex[h>>uint(i)&0xf])
	}
	return b
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
