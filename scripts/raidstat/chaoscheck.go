package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

// This file holds the pure checks of raidstat -chaos (scripts/chaos.sh):
// they take what a fault-injection run left behind (chaosData) and report
// every violated property (ChaosReport.Violations).

// Chaos scenarios.
const (
	scenarioKill  = "kill"  // a decide replica killed with SIGKILL while holding pending entries
	scenarioStore = "store" // the feature-store Redis killed and restarted empty
)

// chatRec is one chat stream entry.
type chatRec struct {
	ID, MsgID, RoomID, UserID string
}

// decisionRec is one decision stream entry (the fields the checks need).
type decisionRec struct {
	EntryMs  int64  // time part of the decision entry's id: when it was written (ms)
	SrcID    string // chat stream entry id decided
	MsgID    string
	RoomID   string
	UserID   string
	Action   string // action_final, e.g. TIMEOUT_600
	Path     string // decision_path
	Failure  string // failure_reason
	ReadAtUs int64  // when the chat entry was read
}

// readToWrittenMs is the decision latency raidstat reports: from the read
// to the end of the millisecond the decision entry was written in (an upper
// bound), or false when read_at_us is missing.
func (d *decisionRec) readToWrittenMs() (float64, bool) {
	if d.ReadAtUs <= 0 {
		return 0, false
	}
	return float64((d.EntryMs+1)*1000-d.ReadAtUs) / 1000, true
}

// execRec is one executions stream entry.
type execRec struct {
	MsgID, RoomID, UserID string
	Action                string // e.g. TIMEOUT_600
	Status                string // success, already, failed, duplicate, ...
}

// claimRec is one idempotency key of the executor: (msg id, action kind)
// claimed with SET NX before the action was sent.
type claimRec struct {
	MsgID, Kind string
}

// chaosData is what a chaos run left in Redis and in the simulator.
type chaosData struct {
	Chat        []chatRec
	Decisions   []decisionRec
	Executions  []execRec
	Claims      []claimRec
	Helix       []twitchsim.HelixAction // every action the simulated Helix accepted
	Pending     int64                   // XPENDING count of the chat group
	DeadLetters int64                   // dead-letter stream length
}

// chaosParams are the facts of the run the script observed.
type chaosParams struct {
	Scenario string // scenarioKill or scenarioStore
	Variant  string // kill: takeover or restart
	// FaultAtMs is when the fault was injected (kill: SIGKILL; store: the
	// feature-store Redis killed), Unix ms; RecoverAtMs is when it was
	// undone (kill: the replica restarted, 0 if never; store: Redis
	// answering again).
	FaultAtMs, RecoverAtMs int64
	// PendingAtFault: kill: entries pending for the killed replica's
	// consumers at the moment of the SIGKILL; ActedAtFault: how many of
	// them already had an executor idempotency key (their action was
	// handed over before the decision was written).
	PendingAtFault, ActedAtFault int64
	// Budget: store: the largest allowed p99 read-to-written latency of the
	// fail-open decisions made during the outage (DECIDE_BUDGET).
	Budget time.Duration
	// EdgeGrace: store: margin at both ends of the outage window, so that
	// decisions whose store call straddled the kill or the restart are not
	// judged.
	EdgeGrace time.Duration
	// RecoverGrace: store: decisions read this long after RecoverAtMs must
	// be scored (deterministic) again.
	RecoverGrace time.Duration
	// MaxFailOpenAfter: store: tolerated share of non-deterministic
	// (feature_store_timeout) decisions after recovery. A shared 2-core
	// box misses the 20 ms feature timeout in bursts whenever another load
	// test runs (seen: 0% to 13% in otherwise identical runs, before the
	// outage as well), so only a systemic failure should trip it; any
	// feature_store_error is a violation.
	MaxFailOpenAfter float64
	// Exits maps each decide process stopped at the end with SIGTERM to its
	// exit status (0 = it was alive and shut down cleanly).
	Exits map[string]int
	// Metrics are decide's /metrics scraped just before the stop, per
	// process (the killed replica's are gone).
	Metrics map[string]map[string]float64
}

// ChaosReport is the result of raidstat -chaos: one JSON line.
type ChaosReport struct {
	Scenario        string         `json:"scenario"`
	ChatEntries     int            `json:"chat_entries"`
	ChatDupMsgIDs   int            `json:"chat_duplicate_msg_ids"` // ingest's business, reported for context
	Decisions       int            `json:"decisions"`
	Undecided       int            `json:"undecided"`         // chat entries without a decision
	DecidedTwice    int            `json:"decided_twice"`     // chat entries with more than one decision (extra decisions)
	MsgDecidedTwice int            `json:"msg_decided_twice"` // extra decisions of a msg id beyond its chat entries
	Orphans         int            `json:"orphan_decisions"`  // decisions whose src_id is no chat entry
	Pending         int64          `json:"pending"`           // XPENDING of the group at the end
	DeadLetters     int64          `json:"dead_letters"`
	DecideP50Ms     float64        `json:"decide_p50_ms"` // read -> decision written, all decisions
	DecideP99Ms     float64        `json:"decide_p99_ms"`
	Actions         ActionReport   `json:"actions"`
	Kill            *KillReport    `json:"kill,omitempty"`
	Store           *StoreReport   `json:"store,omitempty"`
	Exits           map[string]int `json:"exits"`
	Violations      []string       `json:"violations"`
	OK              bool           `json:"ok"`
}

// ActionReport compares what decide decided, what its executor claimed and
// recorded, and what the simulated Helix accepted.
type ActionReport struct {
	Decided map[string]int `json:"decided"` // final decisions by kind (IGNORE excluded)
	// Claims are the executor's idempotency keys (msg id, kind): one per
	// action it tried to execute.
	Claims           int `json:"claims"`
	ClaimsUnknownMsg int `json:"claims_unknown_msg"` // keys of msg ids not in the chat stream
	// ClaimsNotDecided: claimed (msg id, kind) pairs whose logged decision
	// is another action: an attempt the decision log does not show (e.g.
	// decided by a replica that was then killed, and re-decided otherwise).
	ClaimsNotDecided int            `json:"claims_not_decided"`
	Helix            map[string]int `json:"helix"` // accepted Helix actions (not human) by kind
	// HelixDuplicates: accepted Helix actions beyond one per claimed
	// (message, kind): a delete of the same message twice, or more
	// timeouts (warns) of a user than messages of that user claimed for a
	// timeout (warn).
	HelixDuplicates int `json:"helix_duplicates"`
	// HelixUnexpected: accepted actions decide never takes (ban, clear,
	// unban, untimeout) or a delete without a message id.
	HelixUnexpected int            `json:"helix_unexpected"`
	Executions      map[string]int `json:"executions"` // executions stream entries by status
	// SuccessDuplicates: extra success results of the same (msg id, kind).
	SuccessDuplicates int `json:"success_duplicates"`
	// SuccessNotDecided: success results whose (msg id, kind) is not the
	// logged decision of that message.
	SuccessNotDecided int `json:"success_not_decided"`
	// SuccessWithoutHelix: success results beyond the accepted Helix
	// actions of the same (channel, user, kind).
	SuccessWithoutHelix int `json:"success_without_helix"`
	// HelixWithoutSuccess: accepted Helix actions beyond the success
	// results of the same (channel, user, kind): results lost with a killed
	// replica (informational).
	HelixWithoutSuccess int `json:"helix_without_success"`
	// NeverExecuted: decided actions that no live executor reported an
	// outcome for (no result, or only `duplicate`: the key was claimed by
	// a replica that died) and that Helix never accepted: lost, as the
	// executor's at-most-once design allows (informational).
	NeverExecuted int `json:"never_executed"`
}

// KillReport is the kill scenario's evidence that recovery ran.
type KillReport struct {
	Variant       string  `json:"variant"` // takeover (XAUTOCLAIM by the survivor) or restart (same prefix)
	KilledAtMs    int64   `json:"killed_at_ms"`
	RestartedAtMs int64   `json:"restarted_at_ms,omitempty"`
	PendingAtKill int64   `json:"pending_at_kill"` // entries the killed replica held
	ActedAtKill   int64   `json:"acted_at_kill"`   // of those, already handed to the executor (idempotency key set)
	Claimed       float64 `json:"claimed"`         // entries taken over with XAUTOCLAIM (live replicas' metrics)
	PendingReread float64 `json:"pending_reread"`  // own pending entries re-read (live replicas' metrics)
	// Absorbed: execution results with status duplicate: re-submitted
	// actions the idempotency key kept from running twice.
	Absorbed int `json:"absorbed"`
}

// StoreReport is the store scenario's view of the outage.
type StoreReport struct {
	DownAtMs int64 `json:"down_at_ms"`
	UpAtMs   int64 `json:"up_at_ms"`
	// Outage: decisions read inside the outage window (shrunk by the edge
	// grace at both ends).
	OutageDecisions int            `json:"outage_decisions"`
	OutageWrong     int            `json:"outage_wrong"` // not IGNORE + fail_open + feature_store_*
	OutageReasons   map[string]int `json:"outage_reasons"`
	OutageP50Ms     float64        `json:"outage_p50_ms"` // read -> written of the outage's fail-open decisions
	OutageP99Ms     float64        `json:"outage_p99_ms"`
	OutageMaxMs     float64        `json:"outage_max_ms"`
	BudgetMs        float64        `json:"budget_ms"`
	// After: decisions read at least RecoverGraceS after the store was
	// back.
	RecoverGraceS      float64        `json:"recover_grace_s"`
	After              int            `json:"after"`
	AfterDeterministic int            `json:"after_deterministic"`
	AfterActions       int            `json:"after_actions"` // non-IGNORE
	AfterFailOpen      map[string]int `json:"after_fail_open"`
	// RecoveredAfterMs: from the store answering again to the read of the
	// first deterministic decision; -1 if none.
	RecoveredAfterMs float64        `json:"recovered_after_ms"`
	BeforeFailOpen   map[string]int `json:"before_fail_open"` // fail-open decisions read before the kill
}

// userKind keys actions on one user in one channel.
type userKind struct{ room, user, kind string }

// msgKind keys actions on one message.
type msgKind struct{ msg, kind string }

// actionKind returns the kind part of an action string ("TIMEOUT" of
// "TIMEOUT_600"), or "" when s is no action.
func actionKind(s string) string {
	a, err := event.ParseAction(s)
	if err != nil {
		return ""
	}
	return a.Kind.String()
}

// helixKind maps an accepted Helix action to the decide action kind that
// causes it, or "" for kinds decide never takes.
func helixKind(k event.ModKind) string {
	switch k {
	case event.ModTimeout:
		return event.Timeout.String()
	case event.ModDelete:
		return event.Delete.String()
	case event.ModWarn:
		return event.Warn.String()
	}
	return ""
}

// checkChaos runs every check of p.Scenario on d.
func checkChaos(d *chaosData, p chaosParams) ChaosReport {
	r := ChaosReport{Scenario: p.Scenario, Pending: d.Pending, DeadLetters: d.DeadLetters, Exits: p.Exits}
	if r.Exits == nil {
		r.Exits = map[string]int{}
	}
	var v []string
	bad := func(format string, args ...any) { v = append(v, fmt.Sprintf(format, args...)) }

	// Coverage: exactly one decision per chat entry.
	chatByID := make(map[string]int, len(d.Chat))
	chatMsgs := make(map[string]int, len(d.Chat))
	chatUser := make(map[string][2]string, len(d.Chat)) // msg id -> room, user
	for _, c := range d.Chat {
		chatByID[c.ID] = 0
		chatMsgs[c.MsgID]++
		chatUser[c.MsgID] = [2]string{c.RoomID, c.UserID}
	}
	r.ChatEntries = len(d.Chat)
	for _, n := range chatMsgs {
		r.ChatDupMsgIDs += n - 1
	}
	r.Decisions = len(d.Decisions)
	decMsgs := make(map[string]int, len(d.Decisions))
	decKind := make(map[string]string, len(d.Decisions)) // msg id -> final action kind
	var lats []float64
	for i := range d.Decisions {
		x := &d.Decisions[i]
		if n, ok := chatByID[x.SrcID]; ok {
			chatByID[x.SrcID] = n + 1
		} else {
			r.Orphans++
		}
		decMsgs[x.MsgID]++
		decKind[x.MsgID] = actionKind(x.Action)
		if l, ok := x.readToWrittenMs(); ok {
			lats = append(lats, l)
		}
	}
	for _, n := range chatByID {
		switch {
		case n == 0:
			r.Undecided++
		case n > 1:
			r.DecidedTwice += n - 1
		}
	}
	for m, n := range decMsgs {
		if extra := n - max(chatMsgs[m], 1); extra > 0 {
			r.MsgDecidedTwice += extra
		}
	}
	r.DecideP50Ms, r.DecideP99Ms, _ = percentiles(lats)
	if r.ChatEntries == 0 {
		bad("the chat stream is empty: nothing was tested")
	}
	if r.Undecided > 0 {
		bad("%d chat entries have no decision", r.Undecided)
	}
	if r.DecidedTwice > 0 {
		bad("%d extra decisions of chat entries decided more than once", r.DecidedTwice)
	}
	if r.MsgDecidedTwice > 0 {
		bad("%d extra decisions of msg ids decided more than once", r.MsgDecidedTwice)
	}
	if r.Orphans > 0 {
		bad("%d decisions name no chat entry (src_id)", r.Orphans)
	}
	if r.Pending != 0 {
		bad("%d entries still pending in the group at the end", r.Pending)
	}
	names := make([]string, 0, len(r.Exits))
	for n := range r.Exits {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if c := r.Exits[n]; c != 0 {
			bad("%s exited with status %d on SIGTERM (crashed earlier, or an unclean shutdown)", n, c)
		}
	}

	r.Actions = checkActions(d, chatUser, decKind, bad)

	switch p.Scenario {
	case scenarioKill:
		r.Kill = checkKill(p, bad)
		r.Kill.Absorbed = r.Actions.Executions["duplicate"]
	case scenarioStore:
		r.Store = checkStore(d, p, bad)
	default:
		bad("unknown scenario %q", p.Scenario)
	}
	r.Violations = v
	if r.Violations == nil {
		r.Violations = []string{}
	}
	r.OK = len(v) == 0
	return r
}

// checkActions compares decisions, idempotency claims, execution results
// and accepted Helix actions.
func checkActions(d *chaosData, chatUser map[string][2]string, decKind map[string]string, bad func(string, ...any)) ActionReport {
	a := ActionReport{Decided: map[string]int{}, Helix: map[string]int{}, Executions: map[string]int{}}
	for i := range d.Decisions {
		if k := actionKind(d.Decisions[i].Action); k != "" && k != event.Ignore.String() {
			a.Decided[k]++
		}
	}

	// Claims: one per (msg id, kind) by construction (SET NX).
	claimed := make(map[msgKind]bool, len(d.Claims))
	claimsPer := map[userKind]int{}
	for _, c := range d.Claims {
		if claimed[msgKind{c.MsgID, c.Kind}] {
			continue
		}
		claimed[msgKind{c.MsgID, c.Kind}] = true
		a.Claims++
		u, ok := chatUser[c.MsgID]
		if !ok {
			a.ClaimsUnknownMsg++
			continue
		}
		claimsPer[userKind{u[0], u[1], c.Kind}]++
		if decKind[c.MsgID] != c.Kind {
			a.ClaimsNotDecided++
		}
	}

	// Helix: deletes name their message; timeouts and warns only the user,
	// so they are counted per (channel, user, kind) against the claims.
	helixPer := map[userKind]int{}
	deletes := map[string]int{}
	for _, h := range d.Helix {
		if h.Human {
			continue
		}
		k := helixKind(h.Kind)
		if k == "" || (k == event.Delete.String() && h.MsgID == "") {
			a.HelixUnexpected++
			continue
		}
		a.Helix[k]++
		helixPer[userKind{h.BroadcasterID, h.UserID, k}]++
		if k == event.Delete.String() {
			deletes[h.MsgID]++
			if deletes[h.MsgID] > 1 {
				a.HelixDuplicates++
			} else if !claimed[msgKind{h.MsgID, k}] {
				a.HelixDuplicates++ // sent without a claim: nothing kept it from repeating
			}
		}
	}
	for key, n := range helixPer {
		if key.kind == event.Delete.String() {
			continue // checked per message above
		}
		if extra := n - claimsPer[key]; extra > 0 {
			a.HelixDuplicates += extra
		}
	}

	// Execution results.
	success := map[msgKind]int{}
	successPer := map[userKind]int{}
	outcome := map[msgKind]bool{} // some live executor reported what happened
	for _, e := range d.Executions {
		a.Executions[e.Status]++
		k := actionKind(e.Action)
		mk := msgKind{e.MsgID, k}
		if e.Status != "duplicate" {
			outcome[mk] = true
		}
		if e.Status != "success" {
			continue
		}
		success[mk]++
		if success[mk] > 1 {
			a.SuccessDuplicates++
		}
		if decKind[e.MsgID] != k {
			a.SuccessNotDecided++
		}
		successPer[userKind{e.RoomID, e.UserID, k}]++
	}
	for key, n := range successPer {
		if extra := n - helixPer[key]; extra > 0 {
			a.SuccessWithoutHelix += extra
		}
	}
	for key, n := range helixPer {
		if extra := n - successPer[key]; extra > 0 {
			a.HelixWithoutSuccess += extra
		}
	}

	// Decided actions without a known outcome: executed by a replica that
	// died before recording it (Helix accepted it), or lost.
	unknownPer := map[userKind]int{}
	for i := range d.Decisions {
		x := &d.Decisions[i]
		k := actionKind(x.Action)
		if k == "" || k == event.Ignore.String() || outcome[msgKind{x.MsgID, k}] {
			continue
		}
		if k == event.Delete.String() {
			if deletes[x.MsgID] == 0 {
				a.NeverExecuted++
			}
			continue
		}
		unknownPer[userKind{x.RoomID, x.UserID, k}]++
	}
	for key, n := range unknownPer {
		if lost := n - max(0, helixPer[key]-successPer[key]); lost > 0 {
			a.NeverExecuted += lost
		}
	}

	if a.HelixDuplicates > 0 {
		bad("%d duplicate Helix actions (more than one per claimed message and kind)", a.HelixDuplicates)
	}
	if a.HelixUnexpected > 0 {
		bad("%d Helix actions decide never takes (ban, clear, unban, delete without message id)", a.HelixUnexpected)
	}
	if a.SuccessDuplicates > 0 {
		bad("%d duplicate success results of the same (msg id, action kind) in the executions stream", a.SuccessDuplicates)
	}
	if a.SuccessNotDecided > 0 {
		bad("%d successful actions differ from the decision logged for their message", a.SuccessNotDecided)
	}
	if a.SuccessWithoutHelix > 0 {
		bad("%d success results without an accepted Helix action", a.SuccessWithoutHelix)
	}
	return a
}

// checkKill checks that the killed replica's pending entries were
// recovered (claimed by the survivor or re-read by the restarted replica).
func checkKill(p chaosParams, bad func(string, ...any)) *KillReport {
	k := &KillReport{Variant: p.Variant, KilledAtMs: p.FaultAtMs, RestartedAtMs: p.RecoverAtMs, PendingAtKill: p.PendingAtFault, ActedAtKill: p.ActedAtFault}
	for _, m := range p.Metrics {
		for key, val := range m {
			if !strings.Contains(key, `stream="streamsafe:chat"`) {
				continue
			}
			switch {
			case strings.HasPrefix(key, "streamsafe_decide_consumer_claimed_total{"):
				k.Claimed += val
			case strings.HasPrefix(key, "streamsafe_decide_consumer_entries_total{") && strings.Contains(key, `source="pending"`):
				k.PendingReread += val
			}
		}
	}
	if p.FaultAtMs == 0 {
		bad("no replica was killed")
	}
	if k.PendingAtKill <= 0 {
		bad("the killed replica held no pending entries: recovery was not exercised")
	} else if k.Claimed+k.PendingReread < float64(k.PendingAtKill) {
		bad("%d entries were pending at the kill but only %.0f were claimed or re-read", k.PendingAtKill, k.Claimed+k.PendingReread)
	}
	return k
}

// checkStore checks the decisions made during and after the feature-store
// outage.
func checkStore(d *chaosData, p chaosParams, bad func(string, ...any)) *StoreReport {
	s := &StoreReport{DownAtMs: p.FaultAtMs, UpAtMs: p.RecoverAtMs, BudgetMs: float64(p.Budget) / float64(time.Millisecond),
		OutageReasons: map[string]int{}, AfterFailOpen: map[string]int{}, BeforeFailOpen: map[string]int{},
		RecoverGraceS: p.RecoverGrace.Seconds()}
	if p.FaultAtMs == 0 || p.RecoverAtMs <= p.FaultAtMs {
		bad("no feature-store outage was recorded (down %d, up %d)", p.FaultAtMs, p.RecoverAtMs)
		return s
	}
	from := (p.FaultAtMs + p.EdgeGrace.Milliseconds()) * 1000
	to := (p.RecoverAtMs - p.EdgeGrace.Milliseconds()) * 1000
	after := (p.RecoverAtMs + p.RecoverGrace.Milliseconds()) * 1000
	var lats []float64
	firstScored := int64(-1)
	for i := range d.Decisions {
		x := &d.Decisions[i]
		failOpen := x.Path == string(event.PathFailOpen)
		if x.Path == string(event.PathDeterministic) && x.ReadAtUs >= p.RecoverAtMs*1000 && (firstScored < 0 || x.ReadAtUs < firstScored) {
			firstScored = x.ReadAtUs
		}
		switch {
		case x.ReadAtUs < p.FaultAtMs*1000:
			if failOpen {
				s.BeforeFailOpen[x.Failure]++
			}
		case x.ReadAtUs >= from && x.ReadAtUs <= to:
			s.OutageDecisions++
			s.OutageReasons[x.Failure]++
			storeFail := x.Failure == event.FailureFeatureStoreTimeout || x.Failure == event.FailureFeatureStoreError
			if !failOpen || !storeFail || x.Action != event.Ignore.String() {
				s.OutageWrong++
				continue
			}
			if l, ok := x.readToWrittenMs(); ok {
				lats = append(lats, l)
			}
		case x.ReadAtUs >= after:
			s.After++
			switch {
			case x.Path == string(event.PathDeterministic):
				s.AfterDeterministic++
			case failOpen:
				s.AfterFailOpen[x.Failure]++
			}
			if k := actionKind(x.Action); k != "" && k != event.Ignore.String() {
				s.AfterActions++
			}
		}
	}
	s.OutageP50Ms, s.OutageP99Ms, s.OutageMaxMs = percentiles(lats)
	s.RecoveredAfterMs = -1
	if firstScored >= 0 {
		s.RecoveredAfterMs = float64(firstScored-p.RecoverAtMs*1000) / 1000
	}
	if s.OutageDecisions == 0 {
		bad("no decision was read during the outage: the fault was not exercised")
	}
	if s.OutageWrong > 0 {
		bad("%d decisions during the outage are not IGNORE/fail_open/feature_store_*", s.OutageWrong)
	}
	if len(lats) > 0 && s.OutageP99Ms > s.BudgetMs {
		bad("fail-open decisions during the outage took p99 %.1f ms, over the %.0f ms budget", s.OutageP99Ms, s.BudgetMs)
	}
	switch {
	case s.RecoveredAfterMs < 0 || s.RecoveredAfterMs > float64(p.RecoverGrace.Milliseconds()):
		bad("no deterministic decision within %s after the store returned: scoring did not resume", p.RecoverGrace)
	case s.After == 0:
		bad("no decision was read %s after the store returned", p.RecoverGrace)
	case s.AfterActions == 0:
		bad("no non-IGNORE decision after the store returned: scoring did not resume")
	}
	if n := s.AfterFailOpen[event.FailureFeatureStoreError]; n > 0 {
		bad("%d decisions after recovery still failed with feature_store_error", n)
	}
	if s.After > 0 && float64(s.After-s.AfterDeterministic) > p.MaxFailOpenAfter*float64(s.After) {
		bad("%d of %d decisions after recovery are not deterministic (tolerance %.1f%%)", s.After-s.AfterDeterministic, s.After, 100*p.MaxFailOpenAfter)
	}
	return s
}

// percentiles returns p50, p99 and max of xs (sorted in place), nearest
// rank as raidstat's other latencies.
func percentiles(xs []float64) (p50, p99, maxV float64) {
	if len(xs) == 0 {
		return 0, 0, 0
	}
	slices.Sort(xs)
	q := func(p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	return q(0.50), q(0.99), xs[len(xs)-1]
}
