package main

import (
	"fmt"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// testDecision returns a valid decision for message i, the way decide
// writes it.
func testDecision(i int) event.Decision {
	src := fmt.Sprintf("1795611600%03d-%d", i%1000, i)
	msg := fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	feats := make([]float32, event.FeatureSetFS1Len)
	for j := range feats {
		feats[j] = float32(j%7) * 0.25
	}
	mf := make([]float64, event.DecisionMsgFeatureLen)
	mf[0] = float64(10 + i%50)
	mf[13] = -1
	d := event.Decision{
		DecisionID: event.DecisionID(src, msg), SrcID: src, MsgID: msg, RoomID: "1001", Channel: "chan1",
		UserID: fmt.Sprint(5000 + i%97), Login: fmt.Sprintf("user%d", i%97),
		TmiSentTsMs: 1795611600000 + int64(i), ReceivedAtUs: 1795611600000_000 + int64(i)*1000 + 300,
		ReadAtUs: 1795611600000_000 + int64(i)*1000 + 900, DecidedAtUs: 1795611600000_000 + int64(i)*1000 + 1200,
		EventTimeMs: 1795611600000 + int64(i), Subscriber: i%3 == 0, SubMonths: int32(i % 13), FirstMsg: i%11 == 0,
		FeatureSet: event.FeatureSetFS1, Features: feats, MsgFeatures: mf, TextHash: uint64(i) * 0x9e3779b97f4a7c15,
		RiskScore: float64(i%100) / 100, ActionSet: "as-1", PolicyVersion: "baseline-v1", ClampVersion: "0123456789ab",
		Path: event.PathDeterministic, ExploreEps: 0.05, ExploreDraw: 0.5, BehaviourProb: 1,
		LatDecodeUs: 3, LatFeaturesUs: 2, LatStoreUs: 400, LatScoreUs: 1, LatClampUs: 1, LatTotalUs: 410,
		Consumer: "decide-0",
	}
	a := event.DiscreteActions[i%len(event.DiscreteActions)]
	d.ActionDeterministic, d.ActionRequested, d.ActionFinal = a, a, a
	d.ActionFinalIdx = i % len(event.DiscreteActions)
	d.Probs[d.ActionFinalIdx] = 1
	for j := range d.Snapshot {
		d.Snapshot[j] = int64(i % (j + 2))
	}
	if a.Kind != event.Ignore {
		d.ClampRules = []string{"cooldown"}
	}
	return d
}

func testMod(i int) event.Mod {
	return event.Mod{
		Kind: event.ModDelete, Source: "sim", RoomID: "1001", Channel: "chan1",
		TargetLogin: fmt.Sprintf("user%d", i), TargetMsgID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		Text: "bad words", TmiSentTsMs: 1795611600000 + int64(i), ReceivedAtUs: 1795611600000_000 + int64(i)*1000,
	}
}

func testExecution(i int) event.Execution {
	return event.Execution{
		DecisionID: event.DecisionID("1-0", fmt.Sprint(i)), MsgID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		RoomID: "1001", UserID: "5001", Action: event.Action{Kind: event.Timeout, DurationS: 600}, Status: "dry_run",
		Attempts: 0, LatencyUs: 120, ExecutedAtUs: 1795611600000_000 + int64(i),
	}
}
