package event

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// DecisionSchemaVersion is the version of the decision-log layout that
// decide writes. Bump it (and schemas/) on any change of fields or meaning.
//
// Version 2 (schemas/log_event.json) keeps the values of version 1 but
// writes them in 14 stream fields instead of 27 (see FieldIDs and the
// other grouped fields): Redis pays per field on every XADD and every
// read, so the decision log costs about a third less Redis CPU. The JSON
// form and the sink's Parquet columns are unchanged. DecodeDecision reads
// both versions, so the sink and `decide replay` still read entries
// written before an upgrade; a sink from before version 2 dead-letters
// version 2 entries, so upgrade the sink before decide.
const DecisionSchemaVersion = "2"

// DecisionSchemaVersion1 is the earlier layout, still decoded.
const DecisionSchemaVersion1 = "1"

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

// Grouped fields of a decision entry (schema 2): each holds several values
// as a CSV in the order of the names below (Decision's doc comment gives
// every value's type). A decision is 14 stream fields: Redis pays per field
// on every XADD and every read, so each value that is rarely looked at on
// its own shares a field with others. Measured with a standalone
// redis-server (redis-benchmark, XADD of a real decision in pipelines of
// 150): 5.1-5.9 µs of Redis CPU per decision at schema 1's 27 fields,
// 3.8-3.9 µs at schema 2's 14.
const (
	FieldIDs      = "ids"      // DecisionIDsNames
	FieldWho      = "who"      // DecisionWhoNames, each value escaped (see below)
	FieldTimes    = "times"    // DecisionTimesNames
	FieldTrust    = "trust"    // DecisionTrustNames
	FieldDecision = "decision" // DecisionDecisionNames, then the clamp rules (none or more)
	FieldVersions = "versions" // DecisionVersionsNames
	FieldPolicy   = "policy"   // DecisionPolicyNames, then the NumDiscreteActions probs
	FieldLatUs    = "lat_us"   // DecisionLatNames
)

// The values of each grouped field, in order. The snapshot field holds
// text_hash, then the DecisionSnapshotLen snapshot values.
//
// The values in FieldWho come from the chat entry, so they may hold any
// byte: each is written with '%' as "%25" and ',' as "%2C" (nothing else
// is escaped; Twitch ids and logins never need it).
var (
	DecisionIDsNames      = [...]string{FieldDecisionID, FieldSrcID}
	DecisionWhoNames      = [...]string{FieldRoomID, FieldChannel, FieldUserID, FieldLogin}
	DecisionTimesNames    = [...]string{FieldTmiSentTs, FieldReceivedAtUs, FieldReadAtUs, FieldDecidedAtUs, FieldEventTimeMs}
	DecisionTrustNames    = [...]string{FieldBroadcaster, FieldModerator, FieldVIP, FieldSubscriber, FieldSubMonths, FieldFirstMsg, FieldReturning, FieldIsReply, FieldIsAction}
	DecisionDecisionNames = [...]string{FieldRiskScore, FieldActionDeterministic, FieldActionRequested, FieldActionFinal, FieldActionFinalIdx, FieldOverBudget, FieldDecisionPath, FieldFailureReason}
	DecisionVersionsNames = [...]string{FieldFeatureSet, FieldPolicyVersion, FieldClampVersion, FieldActionSet}
	DecisionPolicyNames   = [...]string{FieldExploreEps, FieldExploreDraw, FieldExplored, FieldBehaviourProb}
	DecisionLatNames      = [...]string{FieldLatDecodeUs, FieldLatFeaturesUs, FieldLatStoreUs, FieldLatScoreUs, FieldLatClampUs, FieldLatTotalUs}
)

// Decision is one entry of the decision log (the decisions stream): exactly
// one per chat stream entry, written atomically with the XACK of that entry.
// It holds everything needed to recompute the decision (`decide replay`) and
// to use it for offline RL and off-policy evaluation. Each field's comment
// gives its value's name, wire type and unit, and the stream field of
// schema 2 that holds it: its own field of that name, or a position in one
// of the grouped fields (ids, who, times, trust, snapshot, decision,
// versions, policy, lat_us: CSVs in the order of the Decision*Names
// arrays). "CSV" is a comma-separated list without spaces; floats are
// written in the shortest form that parses back to the same bits (float32
// values, such as the vector and the msg_features ratios, as float32);
// booleans are "0"/"1"; nothing is nullable: absent values are "" (strings)
// or 0. Schema 1 (DecisionSchemaVersion1, still decoded) had 27 fields:
// decision_id, src_id, room_id, channel, user_id, login, read_at_us,
// text_hash, snapshot, risk_score, action_final, clamp_rules, over_budget,
// decision_path, failure_reason and probs in fields of their own, and the
// groups times (tmi_sent_ts, received_at_us, decided_at_us, event_time_ms),
// actions (action_deterministic, action_requested, action_final_idx) and
// explore (explore_eps, explore_draw, explored, behaviour_prob).
//
// Its JSON form (MarshalJSON; schemas/log_event.json) has one property per
// value, named by the json tags (the names above), plus schema_version;
// Validate checks the constraints of that schema without allocating.
type Decision struct {
	// decision_id (string, UUID v5; ids[0]): deterministic id of the
	// decision, SHA-1 name-based over "<src_id>/<msg_id>" (see DecisionID); replaying
	// the same entry yields the same id. Join key for rewards; idempotency
	// key of the executed action; seed of the exploration draw.
	DecisionID string `json:"decision_id"`
	// src_id (string; ids[1]): the chat stream entry ID this decision answers.
	SrcID string `json:"src_id"`
	// msg_id (string; own field), room_id, channel, user_id, login
	// (strings; who[0..3]): copied from the chat event (Twitch message id,
	// channel user id, channel login, author user id, author login).
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
	// read_at_us (int, Unix µs; times[2]): when decide's XREADGROUP
	// returned the batch.
	ReadAtUs int64 `json:"read_at_us"`
	// decided_at_us (int, Unix µs; times[3]): when the decision (after
	// clamp and exploration) was made, before it was written.
	DecidedAtUs int64 `json:"decided_at_us"`
	// event_time_ms (int, Unix ms; times[4]): the decision's clock:
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
	// for bad_input); the *_ratio values are float32.
	MsgFeatures []float64 `json:"msg_features"`
	// text_hash (string, 16 lower-case hex digits; snapshot[0]): XXH64 of the
	// normalised text ("0000000000000000" when empty); keys the copypasta
	// counter.
	TextHash uint64 `json:"text_hash"`
	// snapshot (ints; snapshot[1..18]): the feature-store state before this
	// message, in DecisionSnapshotNames order (all zero when the store
	// failed).
	Snapshot [DecisionSnapshotLen]int64 `json:"snapshot"`

	// risk_score (float64 in [0, 1]; decision[0]): the deterministic risk
	// score.
	RiskScore float64 `json:"risk_score"`
	// action_deterministic (action string, e.g. "WARN", "TIMEOUT_600";
	// decision[1]): what the deterministic risk policy asked for.
	ActionDeterministic Action `json:"action_deterministic"`
	// action_requested (action string; decision[2]): what the deciding
	// policy asked for; equals action_deterministic on the deterministic
	// path.
	ActionRequested Action `json:"action_requested"`
	// action_final (action string; decision[3]): what was executed (after
	// the clamp and exploration); always one of DiscreteActions.
	ActionFinal Action `json:"action_final"`
	// action_final_idx (int 0..NumDiscreteActions-1; decision[4]): index of
	// action_final in DiscreteActions (action_set).
	ActionFinalIdx int `json:"action_final_idx"`
	// clamp_rules (rule names; decision[8..], none when no rule fired): the
	// clamp rules that changed the greedy action (see decide/internal/clamp
	// RULES.md).
	ClampRules []string `json:"clamp_rules"`
	// over_budget (0/1; decision[5]): the decision path had used up its
	// latency budget before the clamp ran (clamp input; logged so replay is
	// deterministic).
	OverBudget bool `json:"over_budget"`
	// decision_path (enum; decision[6]): deterministic | fail_open |
	// explore | policy_shadow | policy_rollout.
	Path DecisionPath `json:"decision_path"`
	// failure_reason (enum, "" when none; decision[7]): bad_input |
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

	// explore_eps (float64; policy[0]): exploration probability epsilon in
	// effect.
	ExploreEps float64 `json:"explore_eps"`
	// explore_draw (float64 in [0, 1); policy[1]): the uniform draw that
	// decided exploration (explored iff draw < eps and a gentler action was
	// allowed).
	ExploreDraw float64 `json:"explore_draw"`
	// explored (0/1; policy[2]): exploration changed the action.
	Explored bool `json:"explored"`
	// behaviour_prob (float64 in (0, 1]; policy[3]): probability with which
	// the behaviour policy executes action_final in this state (the
	// propensity for IPS/DR); 1 when nothing was random.
	BehaviourProb float64 `json:"behaviour_prob"`
	// probs (NumDiscreteActions float64; policy[4..9]): the behaviour
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
const DecisionFields = 14

// decisionFieldNames are the stream fields Values writes, in order (boxed
// once: boxing a string that is not a constant allocates).
var decisionFieldNames = [DecisionFields]any{
	FieldSchemaVersion, FieldIDs, FieldMsgID, FieldWho, FieldTimes, FieldTrust, FieldFeatures, FieldMsgFeatures,
	FieldSnapshot, FieldDecision, FieldVersions, FieldPolicy, FieldLatUs, FieldConsumer,
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

// msgRatioFrom is the index of the first *_ratio value of msg_features:
// from it on the values are float32.
const msgRatioFrom = 19

// Encode writes d's stream values (schema 2) into v. All of them are
// formatted into one buffer that becomes one string: a decision costs one
// allocation.
func (d *Decision) Encode(v *DecisionValues) { d.EncodeWith(v, nil) }

// FloatCache remembers the text of recently formatted float32 values, for
// an encoder of many decisions: most values of a state vector recur (log1p
// of small counts, ratios of short lengths, capped ages), and formatting a
// float32 in its shortest form costs about 40 ns. It is direct-mapped by
// the value's bits, so a lookup is one compare. Not safe for concurrent
// use; the zero value is ready.
type FloatCache struct {
	slots [floatCacheSlots]floatSlot
}

const (
	floatCacheBits  = 10
	floatCacheSlots = 1 << floatCacheBits
)

// floatSlotOf returns the slot of a float32's bits (Fibonacci hashing).
func floatSlotOf(bits uint32) uint32 { return bits * 0x9E3779B1 >> (32 - floatCacheBits) }

type floatSlot struct {
	bits uint32
	n    uint8 // length of text; 0 = empty
	text [15]byte
}

// appendFloat32 appends f as appendFloat(b, f, 32) does, through c when c
// is not nil.
func (c *FloatCache) appendFloat32(b []byte, f float32) []byte {
	if c == nil {
		return appendFloat(b, float64(f), 32)
	}
	bits := math.Float32bits(f)
	s := &c.slots[floatSlotOf(bits)]
	if s.n != 0 && s.bits == bits {
		return append(b, s.text[:s.n]...)
	}
	start := len(b)
	b = appendFloat(b, float64(f), 32)
	if n := len(b) - start; n <= len(s.text) {
		s.bits, s.n = bits, uint8(n)
		copy(s.text[:], b[start:])
	}
	return b
}

// EncodeWith is Encode with c remembering the formatted values of the
// state vector and the msg_features ratios (c may be nil).
func (d *Decision) EncodeWith(v *DecisionValues, c *FloatCache) {
	var arr [2048]byte
	b := arr[:0]
	var ends [DecisionFields]int // end offset in b of each field's value
	k := 0
	end := func(n int) { ends[k] = n; k++ }
	b = append(b, DecisionSchemaVersion...)
	end(len(b))
	b = append(append(append(b, d.DecisionID...), ','), d.SrcID...)
	end(len(b))
	b = append(b, d.MsgID...)
	end(len(b))
	b = appendEscaped(b, d.RoomID)
	b = appendEscaped(append(b, ','), d.Channel)
	b = appendEscaped(append(b, ','), d.UserID)
	b = appendEscaped(append(b, ','), d.Login)
	end(len(b))
	b = appendInts(b, d.TmiSentTsMs, d.ReceivedAtUs, d.ReadAtUs, d.DecidedAtUs, d.EventTimeMs)
	end(len(b))
	b = appendInts(b, i01(d.Broadcaster), i01(d.Moderator), i01(d.VIP), i01(d.Subscriber), int64(d.SubMonths),
		i01(d.FirstMsg), i01(d.ReturningChatter), i01(d.IsReply), i01(d.IsAction))
	end(len(b))
	for i, f := range d.Features {
		if i > 0 {
			b = append(b, ',')
		}
		b = c.appendFloat32(b, f)
	}
	end(len(b))
	for i, f := range d.MsgFeatures {
		if i > 0 {
			b = append(b, ',')
		}
		if i >= msgRatioFrom {
			b = c.appendFloat32(b, float32(f))
		} else {
			b = appendFloat(b, f, 64)
		}
	}
	end(len(b))
	b = appendHash(b, d.TextHash)
	for _, n := range d.Snapshot {
		b = strconv.AppendInt(append(b, ','), n, 10)
	}
	end(len(b))
	b = appendFloat(b, d.RiskScore, 64)
	b = appendAction(append(b, ','), d.ActionDeterministic)
	b = appendAction(append(b, ','), d.ActionRequested)
	b = appendAction(append(b, ','), d.ActionFinal)
	b = strconv.AppendInt(append(b, ','), int64(d.ActionFinalIdx), 10)
	b = strconv.AppendInt(append(b, ','), i01(d.OverBudget), 10)
	b = append(append(b, ','), d.Path...)
	b = append(append(b, ','), d.FailureReason...)
	for _, r := range d.ClampRules {
		b = append(append(b, ','), r...)
	}
	end(len(b))
	b = append(b, d.FeatureSet...)
	b = append(append(b, ','), d.PolicyVersion...)
	b = append(append(b, ','), d.ClampVersion...)
	b = append(append(b, ','), d.ActionSet...)
	end(len(b))
	b = appendFloat(b, d.ExploreEps, 64)
	b = appendFloat(append(b, ','), d.ExploreDraw, 64)
	b = strconv.AppendInt(append(b, ','), i01(d.Explored), 10)
	b = appendFloat(append(b, ','), d.BehaviourProb, 64)
	for _, p := range d.Probs {
		b = appendFloat(append(b, ','), p, 64)
	}
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

// appendEscaped appends s with '%' written as "%25" and ',' as "%2C" (the
// values of FieldWho).
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '%':
			b = append(b, "%25"...)
		case ',':
			b = append(b, "%2C"...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// unescape reverses appendEscaped; ok is false for a '%' that starts
// neither "%25" nor "%2C".
func unescape(s string) (string, bool) {
	if strings.IndexByte(s, '%') < 0 {
		return s, true
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			sb.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "%25"):
			sb.WriteByte('%')
		case strings.HasPrefix(s[i:], "%2C"):
			sb.WriteByte(',')
		default:
			return "", false
		}
		i += 2
	}
	return sb.String(), true
}

// DecodeDecision decodes a decisions stream entry's values, of schema
// version 2 or 1. Unknown fields are ignored; a missing required field
// (schema 2: ids, msg_id, decision; schema 1: decision_id, src_id,
// msg_id, action_final, decision_path), a malformed value or another
// schema version is a *DecodeError (Field names the stream field).
func DecodeDecision(vals map[string]any) (Decision, error) {
	return decodeDecision(decoder{vals: vals})
}

// DecodeDecisionFields is DecodeDecision of flat fields.
func DecodeDecisionFields(f Fields) (Decision, error) { return decodeDecision(decoder{flat: f}) }

func decodeDecision(d decoder) (Decision, error) {
	// Fields are read in the order Values writes them, so that a decoder of
	// flat fields finds each one where the previous one ended.
	v, ok := d.version("decision", DecisionSchemaVersion, DecisionSchemaVersion1)
	if !ok {
		return Decision{}, d.err
	}
	var x Decision
	if v == DecisionSchemaVersion1 {
		x = decodeDecisionV1(&d)
	} else {
		x = decodeDecisionV2(&d)
	}
	if d.err != nil {
		return Decision{}, d.err
	}
	if x.DecisionID == "" || x.MsgID == "" || x.SrcID == "" {
		return Decision{}, &DecodeError{Field: FieldDecisionID, Err: errors.New("decision_id, src_id and msg_id must not be empty")}
	}
	return x, nil
}

func decodeDecisionV2(d *decoder) Decision {
	var x Decision
	if v, ok := d.group(FieldIDs, len(DecisionIDsNames), true); ok {
		x.DecisionID, x.SrcID = v[0], v[1]
	}
	x.MsgID = d.str(FieldMsgID, true)
	if v, ok := d.group(FieldWho, len(DecisionWhoNames), false); ok {
		dst := [...]*string{&x.RoomID, &x.Channel, &x.UserID, &x.Login}
		for i, p := range dst {
			s, ok := unescape(v[i])
			if !ok {
				d.fail(FieldWho, fmt.Errorf("%s: bad escape in %q", DecisionWhoNames[i], v[i]))
			}
			*p = s
		}
	}
	var times [len(DecisionTimesNames)]int64
	d.intsInto(FieldTimes, times[:])
	x.TmiSentTsMs, x.ReceivedAtUs, x.ReadAtUs, x.DecidedAtUs, x.EventTimeMs = times[0], times[1], times[2], times[3], times[4]
	d.trust(&x)
	x.Features = d.float32s(FieldFeatures)
	x.MsgFeatures = d.float64s(FieldMsgFeatures, DecisionMsgFeatureLen, msgRatioFrom)
	if s := d.str(FieldSnapshot, false); s != "" {
		h, rest, _ := cutComma(s)
		x.TextHash = d.parseHash(FieldSnapshot, h)
		d.parseInts(FieldSnapshot, rest, x.Snapshot[:])
	}
	if s := d.str(FieldDecision, true); s != "" {
		var v [len(DecisionDecisionNames)]string
		rest, more := s, true
		for i := range v {
			if !more {
				d.fail(FieldDecision, fmt.Errorf("%d values, want at least %d", i, len(v)))
				break
			}
			v[i], rest, more = cutComma(rest)
		}
		x.RiskScore = d.parseFloat(FieldDecision, v[0])
		x.ActionDeterministic = d.parseAction(FieldDecision, v[1])
		x.ActionRequested = d.parseAction(FieldDecision, v[2])
		if v[3] == "" && d.err == nil {
			d.fail(FieldDecision, fmt.Errorf("%s: empty", FieldActionFinal))
		}
		x.ActionFinal = d.parseAction(FieldDecision, v[3])
		x.ActionFinalIdx = d.parseIdx(FieldDecision, v[4])
		x.OverBudget = d.parseFlag(FieldDecision, FieldOverBudget, v[5])
		if v[6] == "" && d.err == nil {
			d.fail(FieldDecision, fmt.Errorf("%s: empty", FieldDecisionPath))
		}
		x.Path, x.FailureReason = DecisionPath(v[6]), v[7]
		if more {
			x.ClampRules = strings.Split(rest, ",")
		}
	}
	if v, ok := d.group(FieldVersions, len(DecisionVersionsNames), false); ok {
		x.FeatureSet, x.PolicyVersion, x.ClampVersion, x.ActionSet = v[0], v[1], v[2], v[3]
	}
	if s := d.str(FieldPolicy, false); s != "" {
		if n := countValues(s); n != len(DecisionPolicyNames)+NumDiscreteActions {
			d.fail(FieldPolicy, fmt.Errorf("%d values, want %d", n, len(DecisionPolicyNames)+NumDiscreteActions))
		} else {
			var v [len(DecisionPolicyNames)]string
			for i := range v {
				v[i], s, _ = cutComma(s)
			}
			d.explore(FieldPolicy, v[:], &x)
			for i := range x.Probs {
				var p string
				p, s, _ = cutComma(s)
				x.Probs[i] = d.parseFloat(FieldPolicy, p)
			}
		}
	}
	d.latencies(&x)
	x.Consumer = d.str(FieldConsumer, false)
	return x
}

// Schema 1's grouped fields and the values they hold.
const (
	fieldActionsV1 = "actions"
	fieldExploreV1 = "explore"
)

func decodeDecisionV1(d *decoder) Decision {
	var x Decision
	x.DecisionID = d.str(FieldDecisionID, true)
	x.SrcID = d.str(FieldSrcID, true)
	x.MsgID = d.str(FieldMsgID, true)
	x.RoomID = d.str(FieldRoomID, false)
	x.Channel = d.str(FieldChannel, false)
	x.UserID = d.str(FieldUserID, false)
	x.Login = d.str(FieldLogin, false)
	x.ReadAtUs = d.int64(FieldReadAtUs, false)
	var times [4]int64 // tmi_sent_ts, received_at_us, decided_at_us, event_time_ms
	d.intsInto(FieldTimes, times[:])
	x.TmiSentTsMs, x.ReceivedAtUs, x.DecidedAtUs, x.EventTimeMs = times[0], times[1], times[2], times[3]
	d.trust(&x)
	x.Features = d.float32s(FieldFeatures)
	x.MsgFeatures = d.float64s(FieldMsgFeatures, DecisionMsgFeatureLen, DecisionMsgFeatureLen)
	if s := d.str(FieldTextHash, false); s != "" {
		x.TextHash = d.parseHash(FieldTextHash, s)
	}
	d.intsInto(FieldSnapshot, x.Snapshot[:])
	x.RiskScore = d.float64(FieldRiskScore)
	if v, ok := d.group(fieldActionsV1, 3, false); ok { // action_deterministic, action_requested, action_final_idx
		x.ActionDeterministic = d.parseAction(fieldActionsV1, v[0])
		x.ActionRequested = d.parseAction(fieldActionsV1, v[1])
		x.ActionFinalIdx = d.parseIdx(fieldActionsV1, v[2])
	}
	x.ActionFinal = d.action(FieldActionFinal, true)
	if s := d.str(FieldClampRules, false); s != "" {
		x.ClampRules = strings.Split(s, ",")
	}
	x.OverBudget = d.bool(FieldOverBudget)
	x.Path = DecisionPath(d.str(FieldDecisionPath, true))
	x.FailureReason = d.str(FieldFailureReason, false)
	if v, ok := d.group(FieldVersions, len(DecisionVersionsNames), false); ok {
		x.FeatureSet, x.PolicyVersion, x.ClampVersion, x.ActionSet = v[0], v[1], v[2], v[3]
	}
	if v, ok := d.group(fieldExploreV1, len(DecisionPolicyNames), false); ok {
		d.explore(fieldExploreV1, v[:], &x)
	}
	if p := d.float64s(FieldProbs, NumDiscreteActions, NumDiscreteActions); p != nil {
		copy(x.Probs[:], p)
	}
	d.latencies(&x)
	x.Consumer = d.str(FieldConsumer, false)
	return x
}

// trust reads the trust group (the same in both schemas).
func (d *decoder) trust(x *Decision) {
	var trust [len(DecisionTrustNames)]int64
	d.intsInto(FieldTrust, trust[:])
	d.flags(FieldTrust, DecisionTrustNames[:], trust[:], &x.Broadcaster, &x.Moderator, &x.VIP, &x.Subscriber, nil, // sub_months
		&x.FirstMsg, &x.ReturningChatter, &x.IsReply, &x.IsAction)
	x.SubMonths = int32(trust[4])
}

// explore sets the values of DecisionPolicyNames from v[0..3].
func (d *decoder) explore(field string, v []string, x *Decision) {
	x.ExploreEps = d.parseFloat(field, v[0])
	x.ExploreDraw = d.parseFloat(field, v[1])
	x.Explored = d.parseFlag(field, FieldExplored, v[2])
	x.BehaviourProb = d.parseFloat(field, v[3])
}

// latencies reads the lat_us group (the same in both schemas).
func (d *decoder) latencies(x *Decision) {
	var lat [len(DecisionLatNames)]int64
	d.intsInto(FieldLatUs, lat[:])
	x.LatDecodeUs, x.LatFeaturesUs, x.LatStoreUs, x.LatScoreUs, x.LatClampUs, x.LatTotalUs = lat[0], lat[1], lat[2], lat[3], lat[4], lat[5]
}

func (d *decoder) parseHash(field, s string) uint64 {
	h, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		d.fail(field, fmt.Errorf("%s: %w", FieldTextHash, err))
	}
	return h
}

func (d *decoder) parseIdx(field, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		d.fail(field, fmt.Errorf("%s: %w", FieldActionFinalIdx, err))
	}
	return n
}

func (d *decoder) parseFlag(field, name, s string) bool {
	switch s {
	case "0":
		return false
	case "1":
		return true
	}
	d.fail(field, fmt.Errorf("%s: want 0 or 1, got %q", name, s))
	return false
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &DecodeError{Field: field, Err: err}
	}
}

// group splits a grouped field into exactly n values (n <= maxGroup); ok
// is false when the field is absent (recorded when required) or malformed
// (recorded).
func (d *decoder) group(field string, n int, required bool) (vals [maxGroup]string, ok bool) {
	s := d.str(field, required)
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

// float64s parses a CSV of exactly want floats (nil when the field is
// empty); the values from index from32 on are float32s (schema 2 writes the
// msg_features ratios so), the others float64s.
func (d *decoder) float64s(field string, want, from32 int) []float64 {
	s := d.str(field, false)
	if s == "" {
		return nil
	}
	if n := countValues(s); n != want {
		d.fail(field, fmt.Errorf("%d values, want %d", n, want))
		return nil
	}
	out := make([]float64, want)
	for i := range out {
		var p string
		p, s, _ = cutComma(s)
		bits := 64
		if i >= from32 {
			bits = 32
		}
		f, err := parseNumber(p, bits)
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
	if s := d.str(field, false); s != "" {
		d.parseInts(field, s, dst)
	}
}

// parseInts parses exactly len(dst) comma-separated integers from s into
// dst.
func (d *decoder) parseInts(field, s string, dst []int64) {
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
