package main

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/logging/logtest"
	"github.com/streamsafe-rl/streamsafe/shared/mounttest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
	"github.com/streamsafe-rl/streamsafe/sink/internal/verify"
)

// checkExactlyOnce fails unless got (the entry IDs in the files, sorted)
// equals want.
func checkExactlyOnce(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("files hold %d rows (%d distinct), want the %d entries exactly once", len(got), len(slices.Compact(slices.Clone(got))), len(want))
}

// runningSink is the service run in the background by startLoggedSink.
type runningSink struct {
	logs *logtest.Buffer
	done chan error
	stop func() error
}

// alive fails the test if run has returned.
func (s *runningSink) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-s.done:
		t.Fatalf("the sink stopped by itself: run() = %v\nlogs:\n%s", err, s.logs.String())
	default:
	}
}

func startLoggedSink(t *testing.T, cfg Config) *runningSink {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &runningSink{logs: &logtest.Buffer{}, done: make(chan error, 1)}
	log := logging.New(s.logs, slog.LevelInfo)
	go func() { s.done <- run(ctx, cfg, log) }()
	stopped := false
	s.stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-s.done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatal("sink did not stop")
			return nil
		}
	}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

// addDecisions adds decisions from..to-1 in pipelined batches and returns
// their entry IDs.
func addDecisions(t *testing.T, rdb *redis.Client, key string, from, to int) []string {
	t.Helper()
	ctx := context.Background()
	var ids []string
	for off := from; off < to; off += 1000 {
		p := rdb.Pipeline()
		var cmds []*redis.StringCmd
		for i := off; i < min(off+1000, to); i++ {
			d := testDecision(i)
			cmds = append(cmds, p.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: d.Values(nil)}))
		}
		if _, err := p.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		for _, c := range cmds {
			ids = append(ids, c.Val())
		}
	}
	return ids
}

// checkAckedOnDisk checks that every entry the group has acknowledged is in
// a file under dir, and returns how many are acknowledged and pending.
// Redis is read first: an entry acked before the read had its file renamed
// before its ack, so the files read afterwards hold it.
func checkAckedOnDisk(t *testing.T, rdb *redis.Client, key, dir string) (acked, pending int) {
	t.Helper()
	ctx := context.Background()
	gs, err := rdb.XInfoGroups(ctx, key).Result()
	if err != nil || len(gs) != 1 {
		t.Fatalf("XINFO GROUPS %s: %v %v", key, gs, err)
	}
	ps, err := rdb.XPendingExt(ctx, &redis.XPendingExtArgs{Stream: key, Group: gs[0].Name, Start: "-", End: "+", Count: 1 << 20}).Result()
	if err != nil {
		t.Fatal(err)
	}
	isPending := map[string]bool{}
	for _, p := range ps {
		isPending[p.ID] = true
	}
	var ackedIDs []string
	if gs[0].LastDeliveredID != "0-0" {
		delivered, err := rdb.XRange(ctx, key, "-", gs[0].LastDeliveredID).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range delivered {
			if !isPending[m.ID] {
				ackedIDs = append(ackedIDs, m.ID)
			}
		}
	}
	onDisk := map[string]bool{}
	for _, id := range fileIDs(t, dir) {
		onDisk[id] = true
	}
	missing := 0
	for _, id := range ackedIDs {
		if !onDisk[id] {
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d acknowledged entries are in no file (of %d acked, %d rows on disk)", missing, len(ackedIDs), len(onDisk))
	}
	return len(ackedIDs), len(ps)
}

// faultConfig is the sink of the decisions stream writing files of 1000
// rows (no background encoder: a file is written within its commit) from
// batches of 300 entries, so commits fail in the middle of batches.
func faultConfig(t *testing.T, addr, dir string) Config {
	cfg := testConfig(t, addr, dir)
	cfg.Streams = dsDecisions
	cfg.BatchCount = 300
	cfg.FileRows = 1000
	cfg.FileAge = 300 * time.Millisecond
	cfg.HTTPAddr = ""
	return cfg
}

func TestSink_FullDiskRetriesWithoutAckingAndLandsEverythingOnce(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	root := t.TempDir()
	mounttest.Tmpfs(t, root, "2m")
	dir := filepath.Join(root, "data")
	cfg := faultConfig(t, addr, dir)
	// About 125 bytes per row: 20,000 rows do not fit in 2 MB.
	want := addDecisions(t, rdb, cfg.Keys.Decisions, 0, 20_000)

	s := startLoggedSink(t, cfg)
	waitLog(t, s, "no space left on device")
	// The sink keeps retrying: give it a few rounds, checking the
	// invariant each time.
	acked, pending := heldBack(t, s, rdb, cfg.Keys.Decisions, dir)
	if pending == 0 || acked >= len(want) {
		t.Fatalf("during the full disk: %d acked, %d pending; want entries held back", acked, pending)
	}
	t.Logf("disk full: %d entries acked (in files), %d pending", acked, pending)
	if !strings.Contains(s.logs.String(), "commit failed; rows stay buffered and pending") {
		t.Error("the log does not say that the commit failed")
	}

	mounttest.Remount(t, root, "size=64m")
	landsOnce(t, s, rdb, cfg.Keys.Decisions, dir, want)
}

func TestSink_ReadOnlyDirectoryRetriesWithoutAckingAndLandsEverythingOnce(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	root := t.TempDir()
	mounttest.Tmpfs(t, root, "64m")
	dir := filepath.Join(root, "data")
	cfg := faultConfig(t, addr, dir)
	want := addDecisions(t, rdb, cfg.Keys.Decisions, 0, 2000)

	s := startLoggedSink(t, cfg)
	waitDrained(t, rdb, cfg.Keys.Decisions)
	mounttest.Remount(t, root, "ro")
	want = append(want, addDecisions(t, rdb, cfg.Keys.Decisions, 2000, 5000)...)
	waitLog(t, s, "read-only file system")
	acked, pending := heldBack(t, s, rdb, cfg.Keys.Decisions, dir)
	if pending == 0 || acked != 2000 {
		t.Errorf("during the read-only fault: %d acked, %d pending; want the 2000 entries of before acked, the others held back", acked, pending)
	}

	mounttest.Remount(t, root, "rw")
	landsOnce(t, s, rdb, cfg.Keys.Decisions, dir, want)
}

// heldBack lets the failing sink retry for a second, checking every 200 ms
// that nothing is acked that is not on disk, and returns the last counts.
func heldBack(t *testing.T, s *runningSink, rdb *redis.Client, stream, dir string) (acked, pending int) {
	t.Helper()
	for range 5 {
		time.Sleep(200 * time.Millisecond)
		s.alive(t)
		acked, pending = checkAckedOnDisk(t, rdb, stream, filepath.Join(dir, dsDecisions))
	}
	return acked, pending
}

// landsOnce waits, once the fault is gone, until the sink acked everything,
// stops it and checks that the files hold every entry of want exactly once.
func landsOnce(t *testing.T, s *runningSink, rdb *redis.Client, stream, dir string, want []string) {
	t.Helper()
	waitDrained(t, rdb, stream)
	s.alive(t)
	if err := s.stop(); err != nil {
		t.Fatalf("run() = %v", err)
	}
	checkDataDir(t, dir)
	checkExactlyOnce(t, fileIDs(t, filepath.Join(dir, dsDecisions)), want)
}

// waitLog waits until the sink's log holds want.
func waitLog(t *testing.T, s *runningSink, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(s.logs.String(), want) {
		s.alive(t)
		if time.Now().After(deadline) {
			t.Fatalf("the log never says %q:\n%s", want, tail(s.logs.String(), 20))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkDataDir checks that no temporary file is left and that verify finds
// no problem but, at most, overlapping ranges (the duplicate bug, which
// checkExactlyOnce reports).
func checkDataDir(t *testing.T, dir string) {
	t.Helper()
	var tmp []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && filewriter.IsTmpName(d.Name()) {
			tmp = append(tmp, path)
		}
		return nil
	})
	if len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	rep, err := verify.Dir(dir, schemas())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range rep.Problems {
		t.Errorf("verify: %s", p)
	}
	if len(rep.Warnings) > 0 {
		t.Errorf("verify warnings: %v", rep.Warnings)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
