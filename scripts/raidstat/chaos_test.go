package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

const claimedKey = `streamsafe_decide_consumer_claimed_total{stream="streamsafe:chat"}`

// cleanChaos is a run without any violation: five messages, one decided
// during a feature-store outage from 10 s to 20 s (Unix ms 10,000..20,000),
// three acted on, every action claimed, executed once and accepted once.
func cleanChaos() (*chaosData, chaosParams) {
	d := &chaosData{
		Chat: []chatRec{
			{ID: "1-0", MsgID: "m1", RoomID: "r1", UserID: "u1"},
			{ID: "2-0", MsgID: "m2", RoomID: "r1", UserID: "u1"},
			{ID: "3-0", MsgID: "m3", RoomID: "r1", UserID: "u2"},
			{ID: "4-0", MsgID: "m4", RoomID: "r2", UserID: "u3"},
			{ID: "7-0", MsgID: "m7", RoomID: "r2", UserID: "u3"},
		},
		Decisions: []decisionRec{
			{EntryMs: 5_001, SrcID: "1-0", MsgID: "m1", RoomID: "r1", UserID: "u1", Action: "TIMEOUT_600", Path: "deterministic", ReadAtUs: 5_000_000},
			{EntryMs: 15_003, SrcID: "2-0", MsgID: "m2", RoomID: "r1", UserID: "u1", Action: "IGNORE", Path: "fail_open", Failure: "feature_store_error", ReadAtUs: 15_000_000},
			{EntryMs: 26_001, SrcID: "3-0", MsgID: "m3", RoomID: "r1", UserID: "u2", Action: "DELETE", Path: "deterministic", ReadAtUs: 26_000_000},
			{EntryMs: 27_001, SrcID: "4-0", MsgID: "m4", RoomID: "r2", UserID: "u3", Action: "WARN", Path: "deterministic", ReadAtUs: 27_000_000},
			// scored again 1 s after the store is back (inside the recover grace: not judged)
			{EntryMs: 21_001, SrcID: "7-0", MsgID: "m7", RoomID: "r2", UserID: "u3", Action: "IGNORE", Path: "deterministic", ReadAtUs: 21_000_000},
		},
		Claims: []claimRec{{"m1", "TIMEOUT"}, {"m3", "DELETE"}, {"m4", "WARN"}},
		Executions: []execRec{
			{MsgID: "m1", RoomID: "r1", UserID: "u1", Action: "TIMEOUT_600", Status: "success"},
			{MsgID: "m1", RoomID: "r1", UserID: "u1", Action: "TIMEOUT_600", Status: "duplicate"}, // a re-decided message: absorbed
			{MsgID: "m3", RoomID: "r1", UserID: "u2", Action: "DELETE", Status: "success"},
			{MsgID: "m4", RoomID: "r2", UserID: "u3", Action: "WARN", Status: "success"},
		},
		Helix: []twitchsim.HelixAction{
			{Kind: event.ModTimeout, BroadcasterID: "r1", UserID: "u1", DurationS: 600},
			{Kind: event.ModDelete, BroadcasterID: "r1", UserID: "u2", MsgID: "m3"},
			{Kind: event.ModWarn, BroadcasterID: "r2", UserID: "u3"},
		},
	}
	p := chaosParams{
		Variant: "takeover", FaultAtMs: 10_000, RecoverAtMs: 20_000, PendingAtFault: 3,
		Budget: 50 * time.Millisecond, EdgeGrace: 200 * time.Millisecond, RecoverGrace: 5 * time.Second, MaxFailOpenAfter: 0.01,
		Exits:   map[string]int{"decideB": 0},
		Metrics: map[string]map[string]float64{"decideB": {claimedKey: 3}},
	}
	return d, p
}

func TestCheckChaos(t *testing.T) {
	tests := []struct {
		name     string
		scenario string
		mutate   func(d *chaosData, p *chaosParams)
		want     string // a substring of one violation; "" = no violation
	}{
		{"clean_kill", scenarioKill, func(*chaosData, *chaosParams) {}, ""},
		{"clean_store", scenarioStore, func(*chaosData, *chaosParams) {}, ""},
		{"empty_chat", scenarioKill, func(d *chaosData, _ *chaosParams) { d.Chat = nil }, "nothing was tested"},
		{"undecided", scenarioKill, func(d *chaosData, _ *chaosParams) { d.Decisions = d.Decisions[1:] }, "1 chat entries have no decision"},
		{"decided_twice", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Decisions = append(d.Decisions, d.Decisions[1])
		}, "1 extra decisions of chat entries"},
		{"msg_decided_twice_other_src", scenarioKill, func(d *chaosData, _ *chaosParams) {
			x := d.Decisions[1]
			x.SrcID = "9-0"
			d.Decisions = append(d.Decisions, x)
		}, "1 extra decisions of msg ids"},
		{"orphan", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Decisions = append(d.Decisions, decisionRec{SrcID: "9-0", MsgID: "m9", Action: "IGNORE"})
		}, "1 decisions name no chat entry"},
		{"pending_left", scenarioKill, func(d *chaosData, _ *chaosParams) { d.Pending = 3 }, "3 entries still pending"},
		{"crashed", scenarioStore, func(_ *chaosData, p *chaosParams) { p.Exits["decide"] = 2 }, "decide exited with status 2"},
		{"delete_twice", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, d.Helix[1])
		}, "1 duplicate Helix actions"},
		{"delete_unclaimed", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModDelete, BroadcasterID: "r1", UserID: "u1", MsgID: "m2"})
		}, "1 duplicate Helix actions"},
		{"timeout_twice", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, d.Helix[0])
		}, "1 duplicate Helix actions"},
		{"warn_twice", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, d.Helix[2])
		}, "1 duplicate Helix actions"},
		{"timeouts_of_two_messages_are_not_duplicates", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Chat = append(d.Chat, chatRec{ID: "5-0", MsgID: "m5", RoomID: "r1", UserID: "u1"})
			d.Decisions = append(d.Decisions, decisionRec{EntryMs: 28_001, SrcID: "5-0", MsgID: "m5", Action: "TIMEOUT_60", Path: "deterministic", ReadAtUs: 28_000_000})
			d.Claims = append(d.Claims, claimRec{"m5", "TIMEOUT"})
			d.Executions = append(d.Executions, execRec{MsgID: "m5", RoomID: "r1", UserID: "u1", Action: "TIMEOUT_60", Status: "success"})
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModTimeout, BroadcasterID: "r1", UserID: "u1", DurationS: 60})
		}, ""},
		{"human_actions_ignored", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModTimeout, BroadcasterID: "r1", UserID: "u1", Human: true},
				twitchsim.HelixAction{Kind: event.ModUntimeout, BroadcasterID: "r1", UserID: "u1", Human: true})
		}, ""},
		{"ban", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModBan, BroadcasterID: "r1", UserID: "u2"})
		}, "1 Helix actions decide never takes"},
		{"chat_clear", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModClear, BroadcasterID: "r1"})
		}, "1 Helix actions decide never takes"},
		{"success_twice", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Executions = append(d.Executions, d.Executions[2])
		}, "1 duplicate success results"},
		{"success_twice_other_duration", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Executions = append(d.Executions, execRec{MsgID: "m1", RoomID: "r1", UserID: "u1", Action: "TIMEOUT_60", Status: "success"})
		}, "1 duplicate success results"},
		{"success_not_decided", scenarioKill, func(d *chaosData, _ *chaosParams) {
			d.Claims = append(d.Claims, claimRec{"m2", "DELETE"})
			d.Executions = append(d.Executions, execRec{MsgID: "m2", RoomID: "r1", UserID: "u1", Action: "DELETE", Status: "success"})
			d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModDelete, BroadcasterID: "r1", UserID: "u1", MsgID: "m2"})
		}, "1 successful actions differ from the decision"},
		{"success_without_helix", scenarioKill, func(d *chaosData, _ *chaosParams) { d.Helix = d.Helix[:2] }, "1 success results without an accepted Helix action"},
		{"kill_without_pending", scenarioKill, func(_ *chaosData, p *chaosParams) { p.PendingAtFault = 0 }, "recovery was not exercised"},
		{"kill_not_recovered", scenarioKill, func(_ *chaosData, p *chaosParams) {
			p.Metrics["decideB"][claimedKey] = 1
		}, "3 entries were pending at the kill but only 1"},
		{"kill_restart_reread", scenarioKill, func(_ *chaosData, p *chaosParams) {
			p.Variant = "restart"
			p.Metrics = map[string]map[string]float64{"decideA2": {`streamsafe_decide_consumer_entries_total{source="pending",stream="streamsafe:chat"}`: 3}}
		}, ""},
		{"kill_reread_of_mod_stream_does_not_count", scenarioKill, func(_ *chaosData, p *chaosParams) {
			p.Metrics = map[string]map[string]float64{"decideA2": {`streamsafe_decide_consumer_entries_total{source="pending",stream="streamsafe:mod"}`: 3}}
		}, "only 0 were claimed or re-read"},
		{"store_outage_scored", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Decisions[1].Path, d.Decisions[1].Failure = "deterministic", ""
		}, "1 decisions during the outage are not IGNORE/fail_open"},
		{"store_outage_acted", scenarioStore, func(d *chaosData, _ *chaosParams) { d.Decisions[1].Action = "WARN" }, "during the outage are not"},
		{"store_outage_bad_input", scenarioStore, func(d *chaosData, _ *chaosParams) { d.Decisions[1].Failure = "bad_input" }, "during the outage are not"},
		{"store_outage_slow", scenarioStore, func(d *chaosData, _ *chaosParams) { d.Decisions[1].EntryMs = 15_100 }, "p99 101.0 ms, over the 50 ms budget"},
		{"store_outage_edge_not_judged", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Chat = append(d.Chat, chatRec{ID: "5-0", MsgID: "m5", RoomID: "r1", UserID: "u1"})
			// read 0.1 s after the kill: inside the edge grace, so scored is fine
			d.Decisions = append(d.Decisions, decisionRec{EntryMs: 10_101, SrcID: "5-0", MsgID: "m5", Action: "IGNORE", Path: "deterministic", ReadAtUs: 10_100_000})
		}, ""},
		{"store_outage_not_observed", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Decisions[1].ReadAtUs, d.Decisions[1].EntryMs = 22_000_000, 22_001
		}, "no decision was read during the outage"},
		{"store_not_resumed", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Decisions[2].Action, d.Decisions[3].Action = "IGNORE", "IGNORE"
		}, "scoring did not resume"},
		{"store_error_after_recovery", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Decisions[2].Path, d.Decisions[2].Failure = "fail_open", "feature_store_error"
		}, "1 decisions after recovery still failed with feature_store_error"},
		{"store_timeouts_after_recovery", scenarioStore, func(d *chaosData, _ *chaosParams) {
			d.Decisions[2].Path, d.Decisions[2].Failure = "fail_open", "feature_store_timeout"
		}, "1 of 2 decisions after recovery are not deterministic"},
		{"store_nothing_after", scenarioStore, func(_ *chaosData, p *chaosParams) { p.RecoverGrace = 10 * time.Second }, "no decision was read 10s after"},
		{"store_slow_to_resume", scenarioStore, func(_ *chaosData, p *chaosParams) { p.RecoverGrace = 500 * time.Millisecond }, "no deterministic decision within 500ms"},
		{"store_never_resumed", scenarioStore, func(d *chaosData, _ *chaosParams) {
			for i := range d.Decisions {
				if x := &d.Decisions[i]; x.ReadAtUs >= 20_000_000 {
					x.Path, x.Failure, x.Action = "fail_open", "feature_store_timeout", "IGNORE"
				}
			}
		}, "no deterministic decision within 5s"},
		{"store_no_outage", scenarioStore, func(_ *chaosData, p *chaosParams) { p.RecoverAtMs = 0 }, "no feature-store outage was recorded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, p := cleanChaos()
			p.Scenario = tt.scenario
			tt.mutate(d, &p)
			r := checkChaos(d, p)
			if tt.want == "" {
				if !r.OK || len(r.Violations) != 0 {
					t.Errorf("checkChaos = violations %q, want none", r.Violations)
				}
				return
			}
			if r.OK {
				t.Fatalf("checkChaos = OK, want a violation containing %q", tt.want)
			}
			found := false
			for _, v := range r.Violations {
				found = found || strings.Contains(v, tt.want)
			}
			if !found {
				t.Errorf("checkChaos violations = %q, want one containing %q", r.Violations, tt.want)
			}
		})
	}
}

func TestCheckChaos_Report(t *testing.T) {
	d, p := cleanChaos()
	p.Scenario = scenarioStore
	r := checkChaos(d, p)
	s := r.Store
	if s == nil {
		t.Fatal("store report missing")
	}
	if s.OutageDecisions != 1 || s.OutageP99Ms != 4 || s.After != 2 || s.AfterActions != 2 || s.AfterDeterministic != 2 {
		t.Errorf("store report = %+v, want 1 outage decision at 4 ms and 2 deterministic actions after", *s)
	}
	if s.RecoveredAfterMs != 1000 {
		t.Errorf("recovered after %v ms, want 1000 (first deterministic read 21 s, store back at 20 s)", s.RecoveredAfterMs)
	}
	a := r.Actions
	if a.Claims != 3 || a.Helix["TIMEOUT"] != 1 || a.Executions["duplicate"] != 1 || a.Decided["WARN"] != 1 || a.HelixWithoutSuccess != 0 || a.NeverExecuted != 0 {
		t.Errorf("actions report = %+v", a)
	}
}

// TestCheckChaos_LostActions: an action claimed by a replica that died is
// either executed with its result lost (Helix has it) or never executed;
// both are reported, neither is a violation (the executor is at most once).
func TestCheckChaos_LostActions(t *testing.T) {
	tests := []struct {
		name                     string
		helix                    bool // the dead replica got the action to Helix
		wantNever, wantNoSuccess int
	}{
		{"executed_result_lost", true, 0, 1},
		{"never_executed", false, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, p := cleanChaos()
			p.Scenario = scenarioKill
			d.Chat = append(d.Chat, chatRec{ID: "5-0", MsgID: "m5", RoomID: "r3", UserID: "u5"},
				chatRec{ID: "6-0", MsgID: "m6", RoomID: "r3", UserID: "u6"})
			d.Decisions = append(d.Decisions,
				decisionRec{SrcID: "5-0", MsgID: "m5", RoomID: "r3", UserID: "u5", Action: "TIMEOUT_60", Path: "deterministic"},
				decisionRec{SrcID: "6-0", MsgID: "m6", RoomID: "r3", UserID: "u6", Action: "DELETE", Path: "deterministic"})
			d.Claims = append(d.Claims, claimRec{"m5", "TIMEOUT"}, claimRec{"m6", "DELETE"})
			// The survivor re-decided both: its submits were refused as duplicates.
			d.Executions = append(d.Executions,
				execRec{MsgID: "m5", RoomID: "r3", UserID: "u5", Action: "TIMEOUT_60", Status: "duplicate"},
				execRec{MsgID: "m6", RoomID: "r3", UserID: "u6", Action: "DELETE", Status: "duplicate"})
			if tt.helix {
				d.Helix = append(d.Helix, twitchsim.HelixAction{Kind: event.ModTimeout, BroadcasterID: "r3", UserID: "u5", DurationS: 60},
					twitchsim.HelixAction{Kind: event.ModDelete, BroadcasterID: "r3", UserID: "u6", MsgID: "m6"})
			}
			r := checkChaos(d, p)
			if !r.OK {
				t.Errorf("violations %q, want none", r.Violations)
			}
			if got := r.Actions.NeverExecuted; got != 2*tt.wantNever {
				t.Errorf("never executed = %d, want %d", got, 2*tt.wantNever)
			}
			if got := r.Actions.HelixWithoutSuccess; got != 2*tt.wantNoSuccess {
				t.Errorf("helix without success = %d, want %d", got, 2*tt.wantNoSuccess)
			}
		})
	}
}

// TestRun_Chaos runs raidstat -chaos against a real Redis and a fake
// simulator: the loader must read every source the checks need.
func TestRun_Chaos(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	d, _ := cleanChaos()
	for _, c := range d.Chat {
		must(rdb.XAdd(ctx, &redis.XAddArgs{Stream: "chat", ID: c.ID, Values: []any{"msg_id", c.MsgID, "room_id", c.RoomID, "user_id", c.UserID}}).Err())
	}
	must(rdb.XGroupCreate(ctx, "chat", "decide", "0").Err())
	decs := slices.Clone(d.Decisions)
	slices.SortFunc(decs, func(a, b decisionRec) int { return cmp.Compare(a.EntryMs, b.EntryMs) }) // stream ids grow
	for k, x := range decs {
		dec := eventtest.Decision()
		dec.SrcID, dec.MsgID, dec.RoomID, dec.UserID = x.SrcID, x.MsgID, x.RoomID, x.UserID
		a, err := event.ParseAction(x.Action)
		must(err)
		dec.ActionFinal, dec.Path, dec.FailureReason, dec.ReadAtUs = a, event.DecisionPath(x.Path), x.Failure, x.ReadAtUs
		vals := dec.Values(nil)
		if k%2 == 1 { // decide before schema 2 wrote these
			vals = eventtest.DecisionV1Values(dec)
		}
		must(rdb.XAdd(ctx, &redis.XAddArgs{Stream: "dec", ID: itoa(x.EntryMs) + "-0", Values: vals}).Err())
	}
	for _, e := range d.Executions {
		must(rdb.XAdd(ctx, &redis.XAddArgs{Stream: "exec", Values: []any{"msg_id", e.MsgID, "room_id", e.RoomID, "user_id", e.UserID, "action", e.Action, "status", e.Status}}).Err())
	}
	for _, c := range d.Claims {
		must(rdb.Set(ctx, "idem:"+c.MsgID+":"+c.Kind, "decision", 0).Err())
	}
	must(rdb.Set(ctx, "other:key", "1", 0).Err())
	sim := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/control/helix-actions" {
			http.NotFound(w, r)
			return
		}
		_ = json.NewEncoder(w).Encode(d.Helix)
	}))
	defer sim.Close()
	mf := filepath.Join(t.TempDir(), "metrics.json")
	must(os.WriteFile(mf, []byte(`{"metrics":{"decideB":{"`+strings.ReplaceAll(claimedKey, `"`, `\"`)+`":3}}}`), 0o600))
	args := []string{"-redis", addr, "-chat", "chat", "-decisions", "dec", "-executions", "exec", "-idem-prefix", "idem:",
		"-sim", sim.URL, "-metrics-file", mf, "-exits", "decideB=0", "-chaos", "kill", "-variant", "takeover",
		"-fault-at", "10000", "-pending-at-fault", "3"}

	var out bytes.Buffer
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run = %v, want nil; output:\n%s", err, out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var r ChaosReport
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	if !r.OK || r.ChatEntries != 5 || r.Decisions != 5 || r.Actions.Claims != 3 || r.Actions.Helix["DELETE"] != 1 || r.Kill.Claimed != 3 {
		t.Errorf("report = %+v, want OK with 5 entries, 5 decisions, 3 claims, 1 delete, 3 claimed", r)
	}

	// An entry left pending makes it fail, after printing the report.
	must(rdb.XAdd(ctx, &redis.XAddArgs{Stream: "chat", ID: "8-0", Values: []any{"msg_id", "m8"}}).Err())
	must(rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "decide", Consumer: "x", Streams: []string{"chat", ">"}}).Err())
	out.Reset()
	err := run(ctx, args, &out)
	if !errors.Is(err, errViolations) {
		t.Fatalf("run with a pending entry = %v, want errViolations", err)
	}
	if !strings.Contains(out.String(), "VIOLATION: 6 entries still pending") || !strings.Contains(out.String(), "VIOLATION: 1 chat entries have no decision") {
		t.Errorf("output lacks the violations:\n%s", out.String())
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
