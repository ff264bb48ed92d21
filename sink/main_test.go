package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/verify"
)

func testConfig(t *testing.T, addr, dir string) Config {
	t.Helper()
	cfg := Config{
		Redis: config.Redis{Addr: addr, DialTimeout: time.Second, ReadTimeout: 3 * time.Second, WriteTimeout: 3 * time.Second}, Keys: stream.DefaultKeys(), Dir: dir, Streams: "decisions,mod,executions",
		Group: "sink", ConsumerName: "test", LeaseTTL: 3 * time.Second, BatchCount: 300, Block: 100 * time.Millisecond, MaxDeliveries: 1000,
		CallTimeout: 2 * time.Second, InfoInterval: time.Second, DeadLetterMaxLen: 1000,
		RowGroupRows: 400, FileRows: 1000, FileBytes: 1 << 30, FileAge: 300 * time.Millisecond,
		LogLevel: "info", ShutdownTimeout: 10 * time.Second,
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startSink runs the service until the returned stop function is called.
func startSink(t *testing.T, cfg Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logging.Discard()) }()
	return func() error {
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatal("sink did not stop")
			return nil
		}
	}
}

// waitDrained waits until every stream's group has read everything and
// has nothing pending.
func waitDrained(t *testing.T, rdb *redis.Client, keys ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok := true
		for _, k := range keys {
			gs, err := rdb.XInfoGroups(context.Background(), k).Result()
			if err != nil || len(gs) == 0 || gs[0].Lag != 0 || gs[0].Pending != 0 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("streams %v not drained in time", keys)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fileIDs returns every entry_id in the dataset's files, sorted.
func fileIDs(t *testing.T, dir string) []string {
	t.Helper()
	var ids []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), "part-") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			return err
		}
		rd := parquet.NewGenericReader[struct {
			EntryID string `parquet:"entry_id"`
		}](pf)
		buf := make([]struct {
			EntryID string `parquet:"entry_id"`
		}, pf.NumRows())
		n, err := rd.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		for _, r := range buf[:n] {
			ids = append(ids, r.EntryID)
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	slices.SortFunc(ids, func(a, b string) int {
		x, _ := stream.ParseID(a)
		y, _ := stream.ParseID(b)
		return x.Compare(y)
	})
	return ids
}

func xadd(t *testing.T, rdb *redis.Client, key string, vals []any) string {
	t.Helper()
	id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: key, Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestSink_WritesEveryValidEntryOnceAndDeadLettersTheRest(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	dir := t.TempDir()
	cfg := testConfig(t, addr, dir)
	keys := cfg.Keys

	var wantDec, wantMod, wantExec []string
	for i := range 2500 {
		d := testDecision(i)
		wantDec = append(wantDec, xadd(t, rdb, keys.Decisions, d.Values(nil)))
	}
	for i := range 30 {
		m := testMod(i)
		wantMod = append(wantMod, xadd(t, rdb, keys.Mod, m.Values(nil)))
	}
	for i := range 20 {
		x := testExecution(i)
		wantExec = append(wantExec, xadd(t, rdb, keys.Executions, x.Values(nil)))
	}
	// Bad entries, one per kind of problem.
	bad := map[string][]any{}
	d := testDecision(7)
	v := d.Values(nil)
	v[1] = "9" // schema_version
	bad["unsupported decision schema version"] = v
	d = testDecision(8)
	d.Probs[0] += 0.5
	bad["probs"] = d.Values(nil)
	bad["decision_id"] = []any{"schema_version", "1", "msg_id", "m"}
	m := testMod(1)
	m.Kind = "poke"
	bad["unknown kind"] = m.Values(nil)
	var badIDs []string
	for _, reason := range []string{"unsupported decision schema version", "probs", "decision_id"} {
		badIDs = append(badIDs, xadd(t, rdb, keys.Decisions, bad[reason]))
	}
	badIDs = append(badIDs, xadd(t, rdb, keys.Mod, bad["unknown kind"]))

	stop := startSink(t, cfg)
	waitDrained(t, rdb, keys.Decisions, keys.Mod, keys.Executions)
	// New entries after the first files: the running sink picks them up.
	for i := 2500; i < 2600; i++ {
		d := testDecision(i)
		wantDec = append(wantDec, xadd(t, rdb, keys.Decisions, d.Values(nil)))
	}
	waitDrained(t, rdb, keys.Decisions)
	if err := stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}

	for _, c := range []struct {
		ds   string
		want []string
	}{{dsDecisions, wantDec}, {dsMod, wantMod}, {dsExecutions, wantExec}} {
		got := fileIDs(t, filepath.Join(dir, c.ds))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: files hold %d rows, want the %d valid entries exactly once", c.ds, len(got), len(c.want))
		}
	}
	rep, err := verify.Dir(dir, schemas())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Warnings) != 0 {
		t.Errorf("verify: problems %v warnings %v", rep.Problems, rep.Warnings)
	}

	dl, err := rdb.XRange(context.Background(), keys.DeadLetter, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(dl) != len(badIDs) {
		t.Fatalf("dead letters = %d, want %d", len(dl), len(badIDs))
	}
	for _, e := range dl {
		src, _ := e.Values["src_id"].(string)
		reason, _ := e.Values["reason"].(string)
		if !slices.Contains(badIDs, src) {
			t.Errorf("dead letter of %s, which is not a bad entry", src)
		}
		matched := false
		for want := range bad {
			if strings.Contains(reason, want) {
				matched = true
			}
		}
		if !matched {
			t.Errorf("dead-letter reason %q names none of the problems", reason)
		}
	}
}

func TestSink_RestartAfterCommittedButUnackedSkipsRows(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	dir := t.TempDir()
	cfg := testConfig(t, addr, dir)
	cfg.Streams = "decisions"
	var want []string
	for i := range 1500 {
		d := testDecision(i)
		want = append(want, xadd(t, rdb, cfg.Keys.Decisions, d.Values(nil)))
	}
	stop := startSink(t, cfg)
	waitDrained(t, rdb, cfg.Keys.Decisions)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	// Pretend the acks were lost (a crash between rename and XACK): make
	// every entry pending again under another consumer name.
	ctx := context.Background()
	if err := rdb.XGroupDestroy(ctx, cfg.Keys.Decisions, "sink").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XGroupCreate(ctx, cfg.Keys.Decisions, "sink", "0").Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: "sink", Consumer: "old-replica", Streams: []string{cfg.Keys.Decisions, ">"}, Count: 10_000}).Err(); err != nil {
		t.Fatal(err)
	}
	// And a torn temporary file of an interrupted commit.
	tmp := filepath.Join(dir, "decisions", "dt=2026-11-25", "hour=13", ".part-1-0-2-0.parquet.tmp")
	if err := os.MkdirAll(filepath.Dir(tmp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tmp, []byte("PAR1 torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1500; i < 1600; i++ {
		d := testDecision(i)
		want = append(want, xadd(t, rdb, cfg.Keys.Decisions, d.Values(nil)))
	}
	stop = startSink(t, cfg)
	waitDrained(t, rdb, cfg.Keys.Decisions)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := fileIDs(t, filepath.Join(dir, "decisions")); !slices.Equal(got, want) {
		t.Errorf("files hold %d rows, want %d exactly once", len(got), len(want))
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file not removed at start: %v", err)
	}
	rep, err := verify.Dir(dir, schemas())
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}

// TestSink_SecondSinkIsAStandby: a second sink of the same group (another
// consumer name) writes nothing while the first holds the lease, and takes
// over when the first stops: every entry lands exactly once.
func TestSink_SecondSinkIsAStandby(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	dir := t.TempDir()
	cfgA := testConfig(t, addr, dir)
	cfgA.Streams = "decisions"
	cfgB := cfgA
	cfgB.ConsumerName = "standby"
	var want []string
	for i := range 500 {
		d := testDecision(i)
		want = append(want, xadd(t, rdb, cfgA.Keys.Decisions, d.Values(nil)))
	}
	stopA := startSink(t, cfgA)
	waitDrained(t, rdb, cfgA.Keys.Decisions)
	stopB := startSink(t, cfgB)
	for i := 500; i < 1000; i++ {
		d := testDecision(i)
		want = append(want, xadd(t, rdb, cfgA.Keys.Decisions, d.Values(nil)))
	}
	waitDrained(t, rdb, cfgA.Keys.Decisions)
	// Only A's consumer has read: B never joined the group.
	cs, err := rdb.XInfoConsumers(context.Background(), cfgA.Keys.Decisions, "sink").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.HasPrefix(c.Name, "standby") {
			t.Errorf("the standby sink joined the group as %s while the lease was held", c.Name)
		}
	}
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	for i := 1000; i < 1500; i++ {
		d := testDecision(i)
		want = append(want, xadd(t, rdb, cfgA.Keys.Decisions, d.Values(nil)))
	}
	waitDrained(t, rdb, cfgA.Keys.Decisions) // B took over
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	if got := fileIDs(t, filepath.Join(dir, "decisions")); !slices.Equal(got, want) {
		t.Errorf("files hold %d rows, want %d exactly once", len(got), len(want))
	}
	rep, err := verify.Dir(dir, schemas())
	if err != nil || !rep.OK() {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
