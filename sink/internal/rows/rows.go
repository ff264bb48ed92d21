package rows

import (
	"strconv"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Decision is one row of the decisions dataset (schema "decision").
// Nullable timestamps are zero when absent: their columns are optional and
// parquet-go writes a zero value of an optional column as null.
type Decision struct {
	EntryID       string `parquet:"entry_id"`
	SchemaVersion string `parquet:"schema_version,dict"`
	DecisionID    string `parquet:"decision_id"`
	SrcID         string `parquet:"src_id"`
	MsgID         string `parquet:"msg_id"`
	RoomID        string `parquet:"room_id,dict"`
	Channel       string `parquet:"channel,dict"`
	UserID        string `parquet:"user_id"`
	Login         string `parquet:"login"`

	TmiSentAt  int64 `parquet:"tmi_sent_at,optional,timestamp(microsecond:utc)"`
	ReceivedAt int64 `parquet:"received_at,optional,timestamp(microsecond:utc)"`
	ReadAt     int64 `parquet:"read_at,optional,timestamp(microsecond:utc)"`
	DecidedAt  int64 `parquet:"decided_at,timestamp(microsecond:utc)"`
	EventTime  int64 `parquet:"event_time,timestamp(microsecond:utc)"`

	Broadcaster      bool  `parquet:"broadcaster"`
	Moderator        bool  `parquet:"moderator"`
	VIP              bool  `parquet:"vip"`
	Subscriber       bool  `parquet:"subscriber"`
	SubMonths        int32 `parquet:"sub_months"`
	FirstMsg         bool  `parquet:"first_msg"`
	ReturningChatter bool  `parquet:"returning_chatter"`
	IsReply          bool  `parquet:"is_reply"`
	IsAction         bool  `parquet:"is_action"`

	FeatureSet  string    `parquet:"feature_set,dict"`
	Features    []float32 `parquet:"features,list"`
	MsgFeatures []float64 `parquet:"msg_features,list"`
	TextHash    string    `parquet:"text_hash"`
	Snapshot    []int64   `parquet:"snapshot,list"`

	RiskScore           float64  `parquet:"risk_score"`
	ActionDeterministic string   `parquet:"action_deterministic,dict"`
	ActionRequested     string   `parquet:"action_requested,dict"`
	ActionFinal         string   `parquet:"action_final,dict"`
	ActionFinalIdx      int32    `parquet:"action_final_idx"`
	ClampRules          []string `parquet:"clamp_rules,list"`
	OverBudget          bool     `parquet:"over_budget"`
	DecisionPath        string   `parquet:"decision_path,dict"`
	FailureReason       string   `parquet:"failure_reason,dict"`
	PolicyVersion       string   `parquet:"policy_version,dict"`
	ClampVersion        string   `parquet:"clamp_version,dict"`
	ActionSet           string   `parquet:"action_set,dict"`

	ExploreEps    float64   `parquet:"explore_eps"`
	ExploreDraw   float64   `parquet:"explore_draw"`
	Explored      bool      `parquet:"explored"`
	BehaviourProb float64   `parquet:"behaviour_prob"`
	Probs         []float64 `parquet:"probs,list"`

	LatDecodeUs   int64 `parquet:"lat_decode_us"`
	LatFeaturesUs int64 `parquet:"lat_features_us"`
	LatStoreUs    int64 `parquet:"lat_store_us"`
	LatScoreUs    int64 `parquet:"lat_score_us"`
	LatClampUs    int64 `parquet:"lat_clamp_us"`
	LatTotalUs    int64 `parquet:"lat_total_us"`

	Consumer string `parquet:"consumer,dict"`
}

// Mod is one row of the mod dataset (schema "mod").
type Mod struct {
	EntryID        string `parquet:"entry_id"`
	SchemaVersion  string `parquet:"schema_version,dict"`
	Kind           string `parquet:"kind,dict"`
	Source         string `parquet:"source,dict"`
	RoomID         string `parquet:"room_id,dict"`
	Channel        string `parquet:"channel,dict"`
	TargetUserID   string `parquet:"target_user_id"`
	TargetLogin    string `parquet:"target_login"`
	TargetMsgID    string `parquet:"target_msg_id"`
	DurationS      int64  `parquet:"duration_s"`
	Text           string `parquet:"text"`
	ModeratorLogin string `parquet:"moderator_login,dict"`
	RaidViewers    int32  `parquet:"raid_viewers"`
	RaidFromLogin  string `parquet:"raid_from_login"`
	Settings       string `parquet:"settings"`
	TmiSentAt      int64  `parquet:"tmi_sent_at,optional,timestamp(microsecond:utc)"`
	ReceivedAt     int64  `parquet:"received_at,optional,timestamp(microsecond:utc)"`
}

// Execution is one row of the executions dataset (schema "execution").
type Execution struct {
	EntryID       string `parquet:"entry_id"`
	SchemaVersion string `parquet:"schema_version,dict"`
	DecisionID    string `parquet:"decision_id"`
	MsgID         string `parquet:"msg_id"`
	RoomID        string `parquet:"room_id,dict"`
	UserID        string `parquet:"user_id"`
	Action        string `parquet:"action,dict"`
	Status        string `parquet:"status,dict"`
	HTTPStatus    int32  `parquet:"http_status"`
	Attempts      int32  `parquet:"attempts"`
	LatencyUs     int64  `parquet:"latency_us"`
	Error         string `parquet:"error"`
	ExecutedAt    int64  `parquet:"executed_at,timestamp(microsecond:utc)"`
}

// DecisionVersion is the version of the decisions dataset's columns: each
// row's schema_version and each file's streamsafe.schema_version. It is
// not the decision stream's schema version: stream schema 2 changed only
// how the values are laid out in stream fields, so the columns, and this
// version, are still those of stream schema 1, and rl/ reads both alike.
const DecisionVersion = "1"

// FromDecision converts a decoded decision entry to its row. Millisecond
// times become microseconds.
func FromDecision(id string, d *event.Decision) Decision {
	return Decision{
		EntryID: id, SchemaVersion: DecisionVersion,
		DecisionID: d.DecisionID, SrcID: d.SrcID, MsgID: d.MsgID, RoomID: d.RoomID, Channel: d.Channel,
		UserID: d.UserID, Login: d.Login,
		TmiSentAt: d.TmiSentTsMs * 1000, ReceivedAt: d.ReceivedAtUs, ReadAt: d.ReadAtUs,
		DecidedAt: d.DecidedAtUs, EventTime: d.EventTimeMs * 1000,
		Broadcaster: d.Broadcaster, Moderator: d.Moderator, VIP: d.VIP, Subscriber: d.Subscriber,
		SubMonths: d.SubMonths, FirstMsg: d.FirstMsg, ReturningChatter: d.ReturningChatter,
		IsReply: d.IsReply, IsAction: d.IsAction,
		FeatureSet: d.FeatureSet, Features: nonNil(d.Features), MsgFeatures: nonNil(d.MsgFeatures),
		TextHash: hex16(d.TextHash), Snapshot: append([]int64(nil), d.Snapshot[:]...),
		RiskScore:           d.RiskScore,
		ActionDeterministic: d.ActionDeterministic.String(), ActionRequested: d.ActionRequested.String(),
		ActionFinal: d.ActionFinal.String(), ActionFinalIdx: int32(d.ActionFinalIdx),
		ClampRules: nonNil(d.ClampRules), OverBudget: d.OverBudget,
		DecisionPath: string(d.Path), FailureReason: d.FailureReason,
		PolicyVersion: d.PolicyVersion, ClampVersion: d.ClampVersion, ActionSet: d.ActionSet,
		ExploreEps: d.ExploreEps, ExploreDraw: d.ExploreDraw, Explored: d.Explored, BehaviourProb: d.BehaviourProb,
		Probs:       append([]float64(nil), d.Probs[:]...),
		LatDecodeUs: d.LatDecodeUs, LatFeaturesUs: d.LatFeaturesUs, LatStoreUs: d.LatStoreUs,
		LatScoreUs: d.LatScoreUs, LatClampUs: d.LatClampUs, LatTotalUs: d.LatTotalUs,
		Consumer: d.Consumer,
	}
}

// FromMod converts a decoded mod entry to its row.
func FromMod(id string, m *event.Mod) Mod {
	return Mod{
		EntryID: id, SchemaVersion: event.ModSchemaVersion,
		Kind: string(m.Kind), Source: m.Source, RoomID: m.RoomID, Channel: m.Channel,
		TargetUserID: m.TargetUserID, TargetLogin: m.TargetLogin, TargetMsgID: m.TargetMsgID,
		DurationS: m.DurationS, Text: m.Text, ModeratorLogin: m.ModeratorLogin,
		RaidViewers: int32(m.RaidViewers), RaidFromLogin: m.RaidFromLogin, Settings: m.Settings,
		TmiSentAt: m.TmiSentTsMs * 1000, ReceivedAt: m.ReceivedAtUs,
	}
}

// FromExecution converts a decoded executions entry to its row.
func FromExecution(id string, x *event.Execution) Execution {
	return Execution{
		EntryID: id, SchemaVersion: event.ExecutionSchemaVersion,
		DecisionID: x.DecisionID, MsgID: x.MsgID, RoomID: x.RoomID, UserID: x.UserID,
		Action: x.Action.String(), Status: x.Status, HTTPStatus: x.HTTPStatus, Attempts: x.Attempts,
		LatencyUs: x.LatencyUs, Error: x.Error, ExecutedAt: x.ExecutedAtUs,
	}
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func hex16(h uint64) string {
	s := strconv.FormatUint(h, 16)
	const zeros = "0000000000000000"
	return zeros[:16-len(s)] + s
}
