package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// errViolations is returned by runChaos when a check failed (after the
// report was printed), so raidstat exits non-zero.
var errViolations = errors.New("chaos checks found violations")

// chaosFlags are the flags of raidstat -chaos.
type chaosFlags struct {
	scenario       *string
	variant        *string
	executions     *string
	deadLetter     *string
	group          *string
	idemPrefix     *string
	faultAt        *int64
	recoverAt      *int64
	pendingAtFault *int64
	actedAtFault   *int64
	budget         *time.Duration
	edgeGrace      *time.Duration
	recoverGrace   *time.Duration
	maxFailOpen    *float64
	exits          *string
	metricsFile    *string
}

// addChaosFlags registers the -chaos flags on fs.
func addChaosFlags(fs *flag.FlagSet) *chaosFlags {
	return &chaosFlags{
		scenario:       fs.String("chaos", "", "check a scripts/chaos.sh run: kill or store (needs -decisions and -sim); prints a summary and one JSON line, exits 1 on violations"),
		variant:        fs.String("variant", "", "with -chaos kill: takeover or restart (reported only)"),
		executions:     fs.String("executions", "streamsafe:executions", "with -chaos: executions stream key"),
		deadLetter:     fs.String("deadletter", "streamsafe:deadletter", "with -chaos: dead-letter stream key"),
		group:          fs.String("group", "decide", "with -chaos: consumer group on the chat stream"),
		idemPrefix:     fs.String("idem-prefix", "streamsafe:idem:", "with -chaos: key prefix of the executor's idempotency keys"),
		faultAt:        fs.Int64("fault-at", 0, "with -chaos: Unix ms of the fault (kill: SIGKILL; store: feature-store Redis killed)"),
		recoverAt:      fs.Int64("recover-at", 0, "with -chaos: Unix ms the fault was undone (kill: replica restarted, 0 = never; store: Redis answering again)"),
		pendingAtFault: fs.Int64("pending-at-fault", 0, "with -chaos kill: entries pending for the killed replica when it was killed"),
		actedAtFault:   fs.Int64("acted-at-fault", 0, "with -chaos kill: of those, entries that already had an executor idempotency key"),
		budget:         fs.Duration("budget", 50*time.Millisecond, "with -chaos store: largest p99 read-to-written latency of fail-open decisions during the outage"),
		edgeGrace:      fs.Duration("edge-grace", 200*time.Millisecond, "with -chaos store: margin at both ends of the outage window"),
		recoverGrace:   fs.Duration("recover-grace", 5*time.Second, "with -chaos store: decisions read this long after recovery must be scored again"),
		maxFailOpen:    fs.Float64("max-fail-open-after", 0.2, "with -chaos store: tolerated share of feature_store_timeout decisions after recovery (CPU contention on a shared box)"),
		exits:          fs.String("exits", "", "with -chaos: name=status list of the decide processes' exit statuses on SIGTERM"),
		metricsFile:    fs.String("metrics-file", "", "with -chaos: JSON written earlier by raidstat -chat '' -metrics name=URL,... (decide's counters before the stop)"),
	}
}

// chaosKeys names what a chaos check reads.
type chaosKeys struct {
	Chat, Decisions, Executions, DeadLetter, Group, IdemPrefix string
}

// runChaos loads a chaos run's leftovers, checks them and prints the report.
func runChaos(ctx context.Context, rdb *redis.Client, chatKey, decisionsKey, simURL string, f *chaosFlags, out io.Writer) error {
	if *f.scenario != scenarioKill && *f.scenario != scenarioStore {
		return fmt.Errorf("parse -chaos %q: want kill or store", *f.scenario)
	}
	if chatKey == "" || decisionsKey == "" || simURL == "" {
		return errors.New("-chaos needs -chat, -decisions and -sim")
	}
	p := chaosParams{
		Scenario: *f.scenario, Variant: *f.variant,
		FaultAtMs: *f.faultAt, RecoverAtMs: *f.recoverAt, PendingAtFault: *f.pendingAtFault, ActedAtFault: *f.actedAtFault,
		Budget: *f.budget, EdgeGrace: *f.edgeGrace, RecoverGrace: *f.recoverGrace, MaxFailOpenAfter: *f.maxFailOpen,
		Exits: map[string]int{},
	}
	if *f.exits != "" {
		for _, kv := range strings.Split(*f.exits, ",") {
			name, s, ok := strings.Cut(kv, "=")
			code, err := strconv.Atoi(s)
			if !ok || err != nil {
				return fmt.Errorf("parse -exits %q: want name=status", kv)
			}
			p.Exits[name] = code
		}
	}
	if *f.metricsFile != "" {
		b, err := os.ReadFile(*f.metricsFile)
		if err != nil {
			return fmt.Errorf("read metrics file: %w", err)
		}
		var m struct {
			Metrics map[string]map[string]float64 `json:"metrics"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("parse metrics file %s: %w", *f.metricsFile, err)
		}
		p.Metrics = m.Metrics
	}
	keys := chaosKeys{Chat: chatKey, Decisions: decisionsKey, Executions: *f.executions, DeadLetter: *f.deadLetter, Group: *f.group, IdemPrefix: *f.idemPrefix}
	d, err := loadChaos(ctx, rdb, keys, simURL)
	if err != nil {
		return err
	}
	r := checkChaos(&d, p)
	if err := printChaos(out, &r); err != nil {
		return err
	}
	if !r.OK {
		return fmt.Errorf("%w: %d", errViolations, len(r.Violations))
	}
	return nil
}

// loadChaos reads the chat, decision and executions streams, the
// idempotency keys, the group's pending count and the simulator's accepted
// Helix actions.
func loadChaos(ctx context.Context, rdb *redis.Client, k chaosKeys, simURL string) (chaosData, error) {
	var d chaosData
	s := func(v map[string]any, f string) string { return str(v[f]) }
	err := eachEntry(ctx, rdb, k.Chat, func(m redis.XMessage) {
		d.Chat = append(d.Chat, chatRec{ID: m.ID, MsgID: s(m.Values, event.FieldMsgID), RoomID: s(m.Values, event.FieldRoomID), UserID: s(m.Values, event.FieldUserID)})
	})
	if err != nil {
		return d, err
	}
	var bad error
	err = eachEntry(ctx, rdb, k.Decisions, func(m redis.XMessage) {
		ms, _, _ := strings.Cut(m.ID, "-")
		entryMs, _ := strconv.ParseInt(ms, 10, 64)
		x, err := event.DecodeDecision(m.Values)
		if err != nil {
			if bad == nil {
				bad = fmt.Errorf("decision entry %s: %w", m.ID, err)
			}
			return
		}
		d.Decisions = append(d.Decisions, decisionRec{
			EntryMs: entryMs, SrcID: x.SrcID, MsgID: x.MsgID, RoomID: x.RoomID, UserID: x.UserID,
			Action: x.ActionFinal.String(), Path: string(x.Path), Failure: x.FailureReason, ReadAtUs: x.ReadAtUs,
		})
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return d, err
	}
	// Field names of decide/internal/executor's results (Field* there).
	err = eachEntry(ctx, rdb, k.Executions, func(m redis.XMessage) {
		d.Executions = append(d.Executions, execRec{MsgID: s(m.Values, "msg_id"), RoomID: s(m.Values, "room_id"),
			UserID: s(m.Values, "user_id"), Action: s(m.Values, "action"), Status: s(m.Values, "status")})
	})
	if err != nil {
		return d, err
	}
	if d.Claims, err = loadClaims(ctx, rdb, k.IdemPrefix); err != nil {
		return d, err
	}
	pend, err := rdb.XPending(ctx, k.Chat, k.Group).Result()
	if err != nil {
		return d, fmt.Errorf("read pending of group %q on %s: %w", k.Group, k.Chat, err)
	}
	d.Pending = pend.Count
	if d.DeadLetters, err = rdb.XLen(ctx, k.DeadLetter).Result(); err != nil {
		return d, fmt.Errorf("read length of %s: %w", k.DeadLetter, err)
	}
	if err := getJSON(ctx, strings.TrimSuffix(simURL, "/")+"/control/helix-actions", &d.Helix); err != nil {
		return d, err
	}
	return d, nil
}

// eachEntry calls fn with every entry of the stream key, in pages.
func eachEntry(ctx context.Context, rdb *redis.Client, key string, fn func(redis.XMessage)) error {
	const page = 2000
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, key, start, "+", page).Result()
		if err != nil {
			return fmt.Errorf("xrange %s: %w", key, err)
		}
		for _, m := range msgs {
			fn(m)
		}
		if len(msgs) < page {
			return nil
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
}

// loadClaims scans the idempotency keys "<prefix><msg id>:<KIND>".
func loadClaims(ctx context.Context, rdb *redis.Client, prefix string) ([]claimRec, error) {
	var out []claimRec
	it := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for it.Next(ctx) {
		rest := strings.TrimPrefix(it.Val(), prefix)
		i := strings.LastIndexByte(rest, ':')
		if i < 0 {
			continue
		}
		out = append(out, claimRec{MsgID: rest[:i], Kind: rest[i+1:]})
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("scan idempotency keys %s*: %w", prefix, err)
	}
	return out, nil
}

// printChaos writes the readable summary and, as the last line, the JSON
// report.
func printChaos(w io.Writer, r *ChaosReport) error {
	fmt.Fprintf(w, "[%s] chat %d entries (%d duplicate msg ids), decisions %d: %d undecided, %d decided twice, %d msg ids decided twice, %d orphans; pending at end %d, dead letters %d\n",
		r.Scenario, r.ChatEntries, r.ChatDupMsgIDs, r.Decisions, r.Undecided, r.DecidedTwice, r.MsgDecidedTwice, r.Orphans, r.Pending, r.DeadLetters)
	fmt.Fprintf(w, "[%s] decide latency (read -> written, all decisions): p50 %.2f ms p99 %.2f ms\n", r.Scenario, r.DecideP50Ms, r.DecideP99Ms)
	a := &r.Actions
	fmt.Fprintf(w, "[%s] actions decided %s; executor claims %d (%d not the logged decision, %d unknown msg); helix accepted %s; executions %s\n",
		r.Scenario, fmtCounts(a.Decided), a.Claims, a.ClaimsNotDecided, a.ClaimsUnknownMsg, fmtCounts(a.Helix), fmtCounts(a.Executions))
	fmt.Fprintf(w, "[%s] duplicate helix actions %d, unexpected helix actions %d, duplicate successes %d, successes not the logged decision %d, successes without helix action %d; helix actions without success result %d, decided actions never executed %d (both informational: results or actions lost with a killed replica, at most once)\n",
		r.Scenario, a.HelixDuplicates, a.HelixUnexpected, a.SuccessDuplicates, a.SuccessNotDecided, a.SuccessWithoutHelix, a.HelixWithoutSuccess, a.NeverExecuted)
	if k := r.Kill; k != nil {
		fmt.Fprintf(w, "[%s] variant %s: killed holding %d pending entries (%d already handed to the executor); recovered: %.0f claimed (XAUTOCLAIM), %.0f own pending re-read; %d re-submitted actions absorbed by the idempotency key\n",
			r.Scenario, k.Variant, k.PendingAtKill, k.ActedAtKill, k.Claimed, k.PendingReread, k.Absorbed)
	}
	if s := r.Store; s != nil {
		fmt.Fprintf(w, "[%s] outage %.1f s: %d decisions read during it (%d not IGNORE/fail_open/feature_store_*), reasons %s; fail-open latency p50 %.2f ms p99 %.2f ms max %.2f ms (budget %.0f ms)\n",
			r.Scenario, float64(s.UpAtMs-s.DownAtMs)/1000, s.OutageDecisions, s.OutageWrong, fmtCounts(s.OutageReasons), s.OutageP50Ms, s.OutageP99Ms, s.OutageMaxMs, s.BudgetMs)
		fmt.Fprintf(w, "[%s] first deterministic decision %.0f ms after the store was back; from %.0f s after: %d decisions, %d deterministic, %d with an action, fail-open %s (before the outage: fail-open %s)\n",
			r.Scenario, s.RecoveredAfterMs, s.RecoverGraceS, s.After, s.AfterDeterministic, s.AfterActions, fmtCounts(s.AfterFailOpen), fmtCounts(s.BeforeFailOpen))
	}
	fmt.Fprintf(w, "[%s] decide exit statuses on SIGTERM %v\n", r.Scenario, r.Exits)
	if r.OK {
		fmt.Fprintf(w, "[%s] OK: no violation\n", r.Scenario)
	}
	for _, v := range r.Violations {
		fmt.Fprintf(w, "[%s] VIOLATION: %s\n", r.Scenario, v)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode chaos report: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// fmtCounts formats a count map as "a=1 b=2" (sorted), "none" when empty.
func fmtCounts(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		name := k
		if name == "" {
			name = `""`
		}
		parts[i] = name + "=" + strconv.Itoa(m[k])
	}
	return strings.Join(parts, " ")
}
