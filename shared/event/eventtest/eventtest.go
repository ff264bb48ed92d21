// Package eventtest provides valid example events for tests: decisions of
// every path (including the fail-open ones), a mod event of every kind, an
// execution of every status and chat messages. Every example passes its
// Validate method and its JSON Schema (the schemas package tests both), so
// a test can change one field and expect exactly that field to matter.
// Each call returns fresh values that the caller may modify.
package eventtest

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Times of the examples (Unix): a chat message sent at TmiSentMs.
const (
	TmiSentMs  = int64(1_700_000_000_000)
	ReceivedUs = TmiSentMs*1000 + 1_234
	ReadUs     = TmiSentMs*1000 + 2_000
	DecidedUs  = TmiSentMs*1000 + 2_500
)

// ClampVersion is the clamp_version of the example decisions.
const ClampVersion = "0123456789ab"

// Decision returns a deterministic-path decision: the risk policy asked for
// a 120 s timeout, the clamp snapped it to TIMEOUT_60, nothing was
// explored (the draw was above epsilon).
func Decision() event.Decision {
	src, msg := "1700000000000-0", "eb24e920-8065-492a-8aea-266a00fc5126"
	d := event.Decision{
		DecisionID: event.DecisionID(src, msg), SrcID: src, MsgID: msg,
		RoomID: "713936733", Channel: "xyz", UserID: "1", Login: "abc",
		TmiSentTsMs: TmiSentMs, ReceivedAtUs: ReceivedUs, ReadAtUs: ReadUs, DecidedAtUs: DecidedUs, EventTimeMs: TmiSentMs,
		Subscriber: true, SubMonths: 3, IsReply: true,
		FeatureSet: event.FeatureSetFS1, Features: features(), MsgFeatures: msgFeatures(),
		TextHash: 0x00c0ffee0000beef, RiskScore: 0.8125,
		ActionDeterministic: event.Action{Kind: event.Timeout, DurationS: 120},
		ActionRequested:     event.Action{Kind: event.Timeout, DurationS: 120},
		ActionFinal:         event.DiscreteActions[3], ActionFinalIdx: 3,
		ClampRules: []string{"snap"}, Path: event.PathDeterministic,
		PolicyVersion: "baseline-v1", ClampVersion: ClampVersion, ActionSet: event.ActionSetVersion,
		ExploreEps: 0.05, ExploreDraw: 0.7, BehaviourProb: 0.95,
		Probs:       [event.NumDiscreteActions]float64{0.05 / 3, 0.05 / 3, 0.05 / 3, 0.95, 0, 0},
		LatDecodeUs: 3, LatFeaturesUs: 12, LatStoreUs: 310, LatScoreUs: 4, LatClampUs: 2, LatTotalUs: 500,
		Consumer: "decide-0",
	}
	for i := range d.Snapshot {
		d.Snapshot[i] = int64(i)
	}
	d.Snapshot[3], d.Snapshot[4] = TmiSentMs-86_400_000, TmiSentMs-5_000 // first_seen_ms, last_msg_ms
	return d
}

// DecisionIgnore returns a deterministic-path IGNORE of a harmless message
// with no clamp rule and no exploration possible.
func DecisionIgnore() event.Decision {
	d := Decision()
	d.RiskScore = 0.01
	d.ActionDeterministic, d.ActionRequested, d.ActionFinal, d.ActionFinalIdx = event.Action{}, event.Action{}, event.Action{}, 0
	d.ClampRules = nil
	d.BehaviourProb = 1
	d.Probs = [event.NumDiscreteActions]float64{1}
	return d
}

// DecisionExplore returns an explore-path decision: exploration replaced
// the greedy TIMEOUT_600 by WARN, one of three gentler allowed actions.
func DecisionExplore() event.Decision {
	d := Decision()
	d.RiskScore = 0.93
	d.ActionDeterministic = event.DiscreteActions[4]
	d.ActionRequested = event.DiscreteActions[4]
	d.ActionFinal, d.ActionFinalIdx = event.DiscreteActions[1], 1
	d.ClampRules = []string{"escalation", "cooldown"}
	d.Path, d.Explored = event.PathExplore, true
	d.ExploreEps, d.ExploreDraw = 0.3, 0.01
	d.BehaviourProb = 0.1
	d.Probs = [event.NumDiscreteActions]float64{0.1, 0.1, 0.1, 0, 0.7, 0}
	return d
}

// DecisionStoreTimeout returns a fail-open decision: the feature store
// timed out, so the snapshot is zero and the decision is IGNORE, but the
// vector and score were computed and logged.
func DecisionStoreTimeout() event.Decision {
	d := Decision()
	d.Snapshot = [event.DecisionSnapshotLen]int64{}
	d.ActionFinal, d.ActionFinalIdx = event.Action{}, 0
	d.ClampRules = nil
	d.Path, d.FailureReason = event.PathFailOpen, event.FailureFeatureStoreTimeout
	d.ExploreDraw, d.BehaviourProb = 0, 1
	d.Probs = [event.NumDiscreteActions]float64{1}
	d.LatStoreUs = 20_000
	return d
}

// DecisionBadInput returns the fail-open decision decide writes for a chat
// entry that did not decode but had a msg_id: no feature set, empty
// vectors, zero hash and snapshot, IGNORE with probability 1.
func DecisionBadInput() event.Decision {
	src, msg := "1700000000001-0", "0b2a5c7e-9d1f-4e3a-8b6c-1d2e3f4a5b6c"
	return event.Decision{
		DecisionID: event.DecisionID(src, msg), SrcID: src, MsgID: msg, Channel: "xyz",
		ReadAtUs: ReadUs, DecidedAtUs: DecidedUs, EventTimeMs: ReadUs / 1000,
		Path: event.PathFailOpen, FailureReason: event.FailureBadInput,
		ClampVersion: ClampVersion, ActionSet: event.ActionSetVersion,
		BehaviourProb: 1, Probs: [event.NumDiscreteActions]float64{1},
		LatDecodeUs: 7, LatTotalUs: 40, Consumer: "decide-0",
	}
}

// Decisions returns one decision of every kind above, by name.
func Decisions() map[string]event.Decision {
	return map[string]event.Decision{
		"deterministic":  Decision(),
		"ignore":         DecisionIgnore(),
		"explore":        DecisionExplore(),
		"store_timeout":  DecisionStoreTimeout(),
		"bad_input":      DecisionBadInput(),
		"float32_limits": decisionFloat32Limits(),
	}
}

// decisionFloat32Limits has the largest, smallest and tiniest float32
// values in its vector.
func decisionFloat32Limits() event.Decision {
	d := Decision()
	d.Features[0], d.Features[1], d.Features[2] = math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32
	return d
}

func features() []float32 {
	v := make([]float32, event.FeatureSetFS1Len)
	for i := range v {
		v[i] = float32(math.Log1p(float64(i))) / 4
	}
	return v
}

func msgFeatures() []float64 {
	v := make([]float64, event.DecisionMsgFeatureLen)
	for i := range v {
		v[i] = float64(i)
	}
	v[13] = -1 // first_term: none
	for i := 19; i < len(v); i++ {
		v[i] = 0.25 // ratios
	}
	return v
}

// Mods returns a mod event of every kind, by kind.
func Mods() map[event.ModKind]event.Mod {
	base := event.Mod{Source: "irc", RoomID: "713936733", Channel: "xyz", TmiSentTsMs: TmiSentMs, ReceivedAtUs: ReceivedUs}
	out := make(map[event.ModKind]event.Mod, len(event.ModKinds))
	for _, k := range event.ModKinds {
		m := base
		m.Kind = k
		switch k {
		case event.ModTimeout:
			m.TargetUserID, m.TargetLogin, m.DurationS = "300", "spammer", 600
		case event.ModBan:
			m.TargetUserID, m.TargetLogin = "301", "troll"
		case event.ModDelete:
			m.RoomID, m.TargetMsgID, m.TargetLogin, m.Text, m.TmiSentTsMs = "", "deadbeef", "spammer", "buy followers", -1
		case event.ModUnban, event.ModUntimeout, event.ModWarn:
			m.Source, m.TargetUserID, m.TargetLogin, m.ModeratorLogin = "sim", "302", "someone", "modname"
		case event.ModRaid:
			m.RaidViewers, m.RaidFromLogin = 430, "raider"
		case event.ModRoomState:
			m.Settings = "slow=5"
		}
		out[k] = m
	}
	return out
}

// Executions returns an execution of every status, by status.
func Executions() map[string]event.Execution {
	out := make(map[string]event.Execution, len(event.ExecutionStatuses))
	for i, s := range event.ExecutionStatuses {
		x := event.Execution{
			DecisionID: event.DecisionID("1700000000000-"+strconv.Itoa(i), "m"+strconv.Itoa(i)),
			MsgID:      "eb24e920-8065-492a-8aea-266a00fc5126", RoomID: "713936733", UserID: "1",
			Action: event.DiscreteActions[1+i%5], Status: s, LatencyUs: 1500, ExecutedAtUs: DecidedUs + 1500,
		}
		switch s {
		case "success":
			x.HTTPStatus, x.Attempts = 204, 2
		case "already":
			x.HTTPStatus, x.Attempts, x.Error = 400, 1, "user is already banned"
		case "failed":
			x.HTTPStatus, x.Attempts, x.Error = 503, 3, "helix: 503 Service Unavailable"
		case "invalid":
			x.MsgID, x.Action, x.Error = "", event.Action{Kind: event.Delete}, "executor: DELETE without a message id"
		case "dropped", "canceled", "idempotency_unavailable":
			x.Error = s
		}
		out[s] = x
	}
	return out
}

// Chats returns a plain message, a /me and a shared-chat reply, by name.
func Chats() map[string]event.Chat {
	c := event.Chat{
		MsgID: "eb24e920-8065-492a-8aea-266a00fc5126", RoomID: "713936733", Channel: "xyz", UserID: "1", Login: "abc",
		DisplayName: "Abc", Text: "hello chat", TmiSentTsMs: TmiSentMs, ReceivedAtUs: ReceivedUs,
	}
	action := c
	action.IsAction, action.Text, action.Subscriber, action.SubMonths = true, "dances", true, 26
	reply := c
	reply.ReplyParentMsgID, reply.ReplyParentLogin, reply.ReplyParentDisplayName = "p1", "pl", "PL"
	reply.SourceRoomID, reply.EmoteCount, reply.EmoteChars, reply.FirstMsg = "9", 1, 5, true
	reply.Text = "@PL Kappa"
	return map[string]event.Chat{"plain": c, "action": action, "reply": reply}
}

// ChatV1Values returns c's stream field/value pairs in chat schema version
// 1 (one field per value, every field present), the layout an ingest
// before version 2 wrote, for tests that decoders still read it.
func ChatV1Values(c event.Chat) []any {
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	return []any{
		event.FieldSchemaVersion, event.ChatSchemaVersion1, event.FieldMsgID, c.MsgID, event.FieldRoomID, c.RoomID,
		event.FieldChannel, c.Channel, event.FieldUserID, c.UserID, event.FieldLogin, c.Login,
		event.FieldDisplayName, c.DisplayName, event.FieldText, c.Text, event.FieldIsAction, b(c.IsAction),
		event.FieldTmiSentTs, i(c.TmiSentTsMs), event.FieldReceivedAtUs, i(c.ReceivedAtUs),
		event.FieldBroadcaster, b(c.Broadcaster), event.FieldModerator, b(c.Moderator), event.FieldVIP, b(c.VIP),
		event.FieldSubscriber, b(c.Subscriber), event.FieldSubMonths, i(int64(c.SubMonths)),
		event.FieldFirstMsg, b(c.FirstMsg), event.FieldReturning, b(c.ReturningChatter),
		event.FieldReplyMsgID, c.ReplyParentMsgID, event.FieldReplyLogin, c.ReplyParentLogin,
		event.FieldReplyDisplay, c.ReplyParentDisplayName, event.FieldSourceRoomID, c.SourceRoomID,
		event.FieldEmoteCount, i(int64(c.EmoteCount)), event.FieldEmoteChars, i(int64(c.EmoteChars)),
	}
}

// DecisionV1Values returns d's stream field/value pairs in decision schema
// version 1 (27 fields: most values in fields of their own), the layout a
// decide before version 2 wrote, for tests that readers still take it.
func DecisionV1Values(d event.Decision) []any {
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	b := func(v bool) string {
		if v {
			return "1"
		}
		return "0"
	}
	f := func(x float64, bits int) string { return strconv.FormatFloat(x, 'g', -1, bits) }
	csv := func(n int, at func(int) string) string {
		s := ""
		for k := range n {
			if k > 0 {
				s += ","
			}
			s += at(k)
		}
		return s
	}
	return []any{
		event.FieldSchemaVersion, event.DecisionSchemaVersion1,
		event.FieldDecisionID, d.DecisionID, event.FieldSrcID, d.SrcID, event.FieldMsgID, d.MsgID,
		event.FieldRoomID, d.RoomID, event.FieldChannel, d.Channel, event.FieldUserID, d.UserID, event.FieldLogin, d.Login,
		event.FieldReadAtUs, i(d.ReadAtUs),
		event.FieldTimes, i(d.TmiSentTsMs) + "," + i(d.ReceivedAtUs) + "," + i(d.DecidedAtUs) + "," + i(d.EventTimeMs),
		event.FieldTrust, b(d.Broadcaster) + "," + b(d.Moderator) + "," + b(d.VIP) + "," + b(d.Subscriber) + "," + i(int64(d.SubMonths)) +
			"," + b(d.FirstMsg) + "," + b(d.ReturningChatter) + "," + b(d.IsReply) + "," + b(d.IsAction),
		event.FieldFeatures, csv(len(d.Features), func(k int) string { return f(float64(d.Features[k]), 32) }),
		event.FieldMsgFeatures, csv(len(d.MsgFeatures), func(k int) string { return f(d.MsgFeatures[k], 64) }),
		event.FieldTextHash, fmt.Sprintf("%016x", d.TextHash),
		event.FieldSnapshot, csv(len(d.Snapshot), func(k int) string { return i(d.Snapshot[k]) }),
		event.FieldRiskScore, f(d.RiskScore, 64),
		"actions", d.ActionDeterministic.String() + "," + d.ActionRequested.String() + "," + i(int64(d.ActionFinalIdx)),
		event.FieldActionFinal, d.ActionFinal.String(),
		event.FieldClampRules, strings.Join(d.ClampRules, ","),
		event.FieldOverBudget, b(d.OverBudget),
		event.FieldDecisionPath, string(d.Path),
		event.FieldFailureReason, d.FailureReason,
		event.FieldVersions, d.FeatureSet + "," + d.PolicyVersion + "," + d.ClampVersion + "," + d.ActionSet,
		"explore", f(d.ExploreEps, 64) + "," + f(d.ExploreDraw, 64) + "," + b(d.Explored) + "," + f(d.BehaviourProb, 64),
		event.FieldProbs, csv(len(d.Probs), func(k int) string { return f(d.Probs[k], 64) }),
		event.FieldLatUs, i(d.LatDecodeUs) + "," + i(d.LatFeaturesUs) + "," + i(d.LatStoreUs) + "," + i(d.LatScoreUs) + "," +
			i(d.LatClampUs) + "," + i(d.LatTotalUs),
		event.FieldConsumer, d.Consumer,
	}
}
