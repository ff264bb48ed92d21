package sinker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/logging/logtest"
	"github.com/streamsafe-rl/streamsafe/shared/mounttest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
)

const (
	testKey   = "test:mod"
	testDL    = "test:dl"
	testGroup = "sink"
	testName  = "mod"
	// hourMS is 2026-11-25T13:00:00Z in Unix ms: every test entry ID is in
	// partition dt=2026-11-25/hour=13.
	hourMS = 1795611600000
)

// partitionDir is the partition of the test entries under a stream directory.
func partitionDir(dir string) string {
	return filepath.Join(dir, "dt=2026-11-25", "hour=13")
}

// entryID returns the ID of test entry i.
func entryID(i int) string { return fmt.Sprintf("%d-0", hourMS+i) }

// validMod returns the stream values of a valid mod event for entry i.
func validMod(i int) []any {
	m := eventtest.Mods()[event.ModBan]
	m.TargetLogin = fmt.Sprintf("user%d", i)
	return m.Values(nil)
}

// harness is one sinker.Stream of mod events with its real consumer, a
// fresh redis-server and a temporary stream directory.
type harness struct {
	t    *testing.T
	rdb  *redis.Client
	dir  string // the stream directory
	s    *Stream[rows.Mod]
	c    *stream.Consumer
	m    *Metrics
	logs *logtest.Buffer
}

func newHarness(t *testing.T, dir string, lim filewriter.Limits) *harness {
	t.Helper()
	return newHarnessBatch(t, dir, lim, 100)
}

// newHarnessBatch is newHarness with batches of at most batch entries.
func newHarnessBatch(t *testing.T, dir string, lim filewriter.Limits, batch int64) *harness {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t), ContextTimeoutEnabled: true})
	t.Cleanup(func() { rdb.Close() })
	w, err := filewriter.New[rows.Mod](filewriter.Dataset{Dir: dir, Stream: testName, Schema: "mod", Writer: "sink/test"}, lim)
	if err != nil {
		t.Fatal(err)
	}
	logs := &logtest.Buffer{}
	m := NewMetrics(prometheus.NewRegistry())
	s := New(testName, w, DecodeMod, logging.New(logs, slog.LevelDebug), m)
	if err := s.Recover(); err != nil {
		t.Fatalf("Recover() = %v", err)
	}
	c, err := stream.NewConsumer(rdb, stream.ConsumerConfig{
		Stream: testKey, Group: testGroup, DeadLetter: testDL, ConsumerPrefix: "t", Workers: 1,
		BatchCount: batch, Block: 20 * time.Millisecond, MinIdle: 24 * time.Hour, ClaimInterval: time.Hour,
		MaxDeliveries: 1000, CallTimeout: 2 * time.Second, InfoInterval: -1,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
	}, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	s.SetAcker(c)
	return &harness{t: t, rdb: rdb, dir: dir, s: s, c: c, m: m, logs: logs}
}

// add adds entry i (explicit ID) with vals.
func (h *harness) add(i int, vals []any) string {
	h.t.Helper()
	id, err := h.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: testKey, ID: entryID(i), Values: vals}).Result()
	if err != nil {
		h.t.Fatalf("XADD %s: %v", entryID(i), err)
	}
	return id
}

// run runs the consumer until the returned stop is called (also at cleanup).
func (h *harness) run() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				h.t.Error("consumer did not stop")
			}
		})
	}
	h.t.Cleanup(stop)
	return stop
}

func (h *harness) pending() int64 {
	h.t.Helper()
	p, err := h.rdb.XPending(context.Background(), testKey, testGroup).Result()
	if err != nil {
		h.t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

func (h *harness) lag() int64 {
	h.t.Helper()
	gs, err := h.rdb.XInfoGroups(context.Background(), testKey).Result()
	if err != nil || len(gs) != 1 {
		h.t.Fatalf("XINFO GROUPS: %v %v", gs, err)
	}
	return gs[0].Lag
}

// fileIDs returns the entry_id of every row in the committed files, in file
// name order (which is ID order within a partition).
func (h *harness) fileIDs() []string {
	h.t.Helper()
	return readIDs(h.t, h.dir)
}

func readIDs(t *testing.T, dir string) []string {
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
		st, err := f.Stat()
		if err != nil {
			return err
		}
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		buf := make([]rows.Mod, pf.NumRows())
		n, err := parquet.NewGenericReader[rows.Mod](pf).Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("read %s: %w", path, err)
		}
		for _, r := range buf[:n] {
			ids = append(ids, r.EntryID)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// tmpFiles counts the temporary files under dir.
func tmpFiles(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && filewriter.IsTmpName(d.Name()) {
			n++
		}
		return nil
	})
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

var bigLimits = filewriter.Limits{RowGroupRows: 100, FileRows: 10_000, FileBytes: 1 << 30, FileAge: time.Hour}

func TestStream_RejectsInvalidEntriesAndKeepsValidOnes(t *testing.T) {
	h := newHarness(t, filepath.Join(t.TempDir(), testName), bigLimits)
	badKind := eventtest.Mods()[event.ModBan]
	badKind.Kind = "poke"
	badVersion := validMod(0)
	badVersion[1] = "9" // schema_version
	negative := eventtest.Mods()[event.ModTimeout]
	negative.DurationS = -5 // decodes, does not validate
	bad := map[int][]any{
		2: badKind.Values(nil),
		5: badVersion,
		7: negative.Values(nil),
		8: {"schema_version", "1", "kind", "ban"}, // no channel
	}
	wantReason := map[string]string{entryID(2): "decode mod event", entryID(5): "unsupported mod schema version",
		entryID(7): "validate mod event", entryID(8): "channel"}
	var valid []string
	for i := range 10 {
		if v, ok := bad[i]; ok {
			h.add(i, v)
			continue
		}
		valid = append(valid, h.add(i, validMod(i)))
	}
	stop := h.run()
	waitFor(t, "4 dead letters", func() bool { n, _ := h.rdb.XLen(context.Background(), testDL).Result(); return n == 4 })
	waitFor(t, "6 buffered rows", func() bool { return h.s.Buffered() == 6 })
	stop()
	// The valid entries are kept (pending until their file is committed),
	// the rejected ones are acked with their dead letter.
	equal(t, "pending before the commit", h.pending(), int64(6))
	equal(t, "rejected_total", value(h.m.rejected.WithLabelValues(testName)), 4.0)
	dls, err := h.rdb.XRange(context.Background(), testDL, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range dls {
		dl, err := stream.DecodeDeadLetter(e.Values)
		if err != nil {
			t.Fatal(err)
		}
		want, ok := wantReason[dl.SrcID]
		if !ok || !strings.Contains(dl.Reason, want) || dl.SrcStream != testKey || dl.Group != testGroup {
			t.Errorf("dead letter %+v, want one of the bad entries with a reason naming %q", dl, want)
		}
	}
	if err := h.s.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if got := h.fileIDs(); !slices.Equal(got, valid) {
		t.Errorf("rows in files = %v, want the valid entries %v", got, valid)
	}
	equal(t, "pending after Close", h.pending(), int64(0))
}

func TestStream_SkipsCommittedEntriesOnlyWhenDeliveredBefore(t *testing.T) {
	tests := []struct {
		name        string
		readAs      string // who the entries were delivered to before ("": nobody; "self": worker 0)
		wantSkipped float64
		wantRows    int // rows of entries 0..4 in the files
		wantLog     string
	}{
		// A crash after the rename, before the XACK: the entries are read
		// again from the pending list and must not be written twice.
		{"pending", "self", 5, 5, "acknowledging entries committed by an earlier run"},
		// The same after a rename of the replica: the start takes the
		// entries over (ClaimAll) and re-reads them as its own.
		{"taken over from another replica", "old-replica-mod-0", 5, 5, "acknowledging entries committed by an earlier run"},
		// A first delivery inside a committed range (the stream or group was
		// recreated): written again, loudly, rather than risk losing it.
		{"new", "", 0, 10, "new entry inside the ID range of a committed file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), testName)
			// A file committed by an earlier run: entries 0..4.
			prev, err := filewriter.New[rows.Mod](filewriter.Dataset{Dir: dir, Stream: testName, Schema: "mod", Writer: "sink/test"}, bigLimits)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := prev.Recover(); err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				id, _ := stream.ParseID(entryID(i))
				m := eventtest.Mods()[event.ModBan]
				prev.Append(id, entryID(i), rows.FromMod(entryID(i), &m), event.ModSchemaVersion, 100)
			}
			if _, err := prev.Commit(); err != nil {
				t.Fatal(err)
			}

			h := newHarness(t, dir, bigLimits)
			var all []string
			for i := range 7 {
				all = append(all, h.add(i, validMod(i)))
			}
			if tt.readAs != "" {
				name := tt.readAs
				if name == "self" {
					name = h.c.ConsumerName(0)
				}
				err := h.rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
					Group: testGroup, Consumer: name, Streams: []string{testKey, ">"}, Count: 100}).Err()
				if err != nil {
					t.Fatal(err)
				}
				if n, err := h.c.ClaimAll(context.Background()); n != 7 || err != nil {
					t.Fatalf("ClaimAll() = %d, %v; want 7, nil", n, err)
				}
			}
			stop := h.run()
			waitFor(t, "the batch", func() bool { return h.s.Buffered() > 0 && h.lag() == 0 })
			stop()
			if err := h.s.Close(context.Background()); err != nil {
				t.Fatalf("Close() = %v", err)
			}
			equal(t, "pending after Close", h.pending(), int64(0))
			equal(t, "skipped_total{committed}", value(h.m.skipped.WithLabelValues(testName, SkipCommitted)), tt.wantSkipped)
			count := map[string]int{}
			for _, id := range h.fileIDs() {
				count[id]++
			}
			n := 0
			for _, id := range all[:5] {
				n += count[id]
			}
			equal(t, "rows of the committed entries", n, tt.wantRows)
			equal(t, "rows of entry 5", count[all[5]], 1)
			equal(t, "rows of entry 6", count[all[6]], 1)
			if !strings.Contains(h.logs.String(), tt.wantLog) {
				t.Errorf("log lacks %q:\n%s", tt.wantLog, h.logs.String())
			}
		})
	}
}

// fault makes the commits of the test partition fail: setup runs before
// the stream directory exists, apply starts the fault and returns its undo.
type fault struct {
	name  string
	setup func(t *testing.T, root string) // before the stream directory exists
	apply func(t *testing.T, root, dir string) (undo func())
}

var faults = []fault{
	{
		name: "partition path blocked by a file",
		apply: func(t *testing.T, _, dir string) func() {
			block := filepath.Dir(partitionDir(dir)) // dt=2026-11-25
			if err := os.WriteFile(block, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return func() {
				if err := os.Remove(block); err != nil {
					t.Fatal(err)
				}
			}
		},
	},
	{
		name:  "read-only directory",
		setup: func(t *testing.T, root string) { mounttest.Tmpfs(t, root, "4m") },
		apply: func(t *testing.T, root, _ string) func() {
			mounttest.Remount(t, root, "ro")
			return func() { mounttest.Remount(t, root, "rw") }
		},
	},
}

// checkExactlyOnce fails unless got equals want.
func checkExactlyOnce(t *testing.T, got, want []string) {
	t.Helper()
	if slices.Equal(got, want) {
		return
	}
	t.Errorf("rows in files = %v, want each entry once: %v", got, want)
}

func TestStream_CommitFailureIsRetriedWithoutDuplicates(t *testing.T) {
	shapes := []struct {
		name        string
		batch       int64 // entries per read; files hold 4 rows
		wantPending int64 // entries read (and none acked) during the fault
	}{
		// The retried commit holds rows of the failing batch only: the
		// retry writes them again under the same file name, which
		// replaces the first file.
		{"file within one batch", 10, 10},
		// The fault hits the first file in the middle of the second batch:
		// the retried commit holds rows of both batches.
		{"file spanning two batches", 3, 6},
	}
	for _, sh := range shapes {
		for _, f := range faults {
			t.Run(sh.name+"/"+f.name, func(t *testing.T) {
				root := t.TempDir()
				if f.setup != nil {
					f.setup(t, root)
				}
				dir := filepath.Join(root, testName)
				h := newHarnessBatch(t, dir, filewriter.Limits{RowGroupRows: 2, FileRows: 4, FileBytes: 1 << 30, FileAge: time.Hour}, sh.batch)
				var want []string
				for i := range 10 {
					want = append(want, h.add(i, validMod(i)))
				}
				undo := f.apply(t, root, dir)
				stop := h.run()
				waitFor(t, "two failed commits", func() bool { return value(h.m.commitErrors.WithLabelValues(testName)) >= 2 })
				if got := h.s.Buffered(); got != 4 {
					t.Errorf("buffered rows after failed commits = %d, want 4 (kept for the retry)", got)
				}
				// The in-place retry holds the worker: nothing more is read,
				// nothing is acknowledged.
				equal(t, "pending during the fault", h.pending(), sh.wantPending)
				if ids := h.fileIDs(); len(ids) != 0 {
					t.Errorf("files hold %v during the fault, want none", ids)
				}
				undo()
				waitFor(t, "every entry read and every committed one acked", func() bool {
					return h.lag() == 0 && h.pending() == int64(h.s.Buffered())
				})
				stop()
				if err := h.s.Close(context.Background()); err != nil {
					t.Fatalf("Close() = %v", err)
				}
				equal(t, "pending after Close", h.pending(), int64(0))
				equal(t, "temporary files left", tmpFiles(t, dir), 0)
				checkExactlyOnce(t, h.fileIDs(), want)
			})
		}
	}
}

// TestStream_HandleBatchReturnsRetry calls HandleBatch directly: a failed
// commit must come back as a stream.Retry error (the consumer retries in
// place instead of counting a delivery) with the rows still buffered.
func TestStream_HandleBatchReturnsRetry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, filewriter.Limits{RowGroupRows: 2, FileRows: 3, FileBytes: 1 << 30, FileAge: time.Hour})
	for i := range 3 {
		h.add(i, validMod(i))
	}
	msgs := h.readAll()
	undo := faults[0].apply(t, "", dir)
	b := &stream.Batch{Stream: testKey, Group: testGroup, Consumer: h.c.ConsumerName(0), Source: stream.SourceNew,
		Attempt: 1, Msgs: msgs, Deliveries: []int64{1, 1, 1}}
	err := h.s.HandleBatch(context.Background(), b)
	if !stream.IsRetry(err) {
		t.Fatalf("HandleBatch with a blocked partition = %v, want a stream.Retry error", err)
	}
	equal(t, "buffered", h.s.Buffered(), 3)
	equal(t, "pending", h.pending(), int64(3))
	undo()
	// The consumer's in-place retry: the same batch again.
	b = &stream.Batch{Stream: testKey, Group: testGroup, Consumer: h.c.ConsumerName(0), Source: stream.SourceNew,
		Attempt: 2, Msgs: msgs, Deliveries: []int64{1, 1, 1}}
	if err := h.s.HandleBatch(context.Background(), b); err != nil {
		t.Fatalf("retried HandleBatch = %v", err)
	}
	equal(t, "buffered after the retry", h.s.Buffered(), 0)
	equal(t, "pending after the retry", h.pending(), int64(0))
	equal(t, "rows", len(h.fileIDs()), 3)
}

// readAll delivers every entry to worker 0 (pending) and returns them.
func (h *harness) readAll() []redis.XMessage {
	h.t.Helper()
	res, err := h.rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: testGroup, Consumer: h.c.ConsumerName(0), Streams: []string{testKey, ">"}, Count: 1000}).Result()
	if err != nil {
		h.t.Fatal(err)
	}
	return res[0].Messages
}

// flakyAcker fails every Ack while fail is set.
type flakyAcker struct {
	a     Acker
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *flakyAcker) Ack(ctx context.Context, ids ...string) error {
	f.calls.Add(1)
	if f.fail.Load() {
		return errors.New("redis: connection refused")
	}
	return f.a.Ack(ctx, ids...)
}

func TestStream_AckFailureKeepsIDsAndTickRetries(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, filewriter.Limits{RowGroupRows: 10, FileRows: 100, FileBytes: 1 << 30, FileAge: time.Minute})
	ack := &flakyAcker{a: h.c}
	h.s.SetAcker(ack)
	for i := range 5 {
		h.add(i, validMod(i))
	}
	msgs := h.readAll()
	ack.fail.Store(true)
	b := &stream.Batch{Stream: testKey, Group: testGroup, Consumer: h.c.ConsumerName(0), Source: stream.SourceNew,
		Attempt: 1, Msgs: msgs, Deliveries: []int64{1, 1, 1, 1, 1}}
	if err := h.s.HandleBatch(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	// The file ages out; its commit succeeds but the XACK fails.
	h.s.Tick(context.Background(), time.Now().Add(2*time.Minute))
	equal(t, "rows on disk", len(h.fileIDs()), 5)
	equal(t, "pending while acks fail", h.pending(), int64(5))
	equal(t, "unacked_entries", value(h.m.unacked.WithLabelValues(testName)), 5.0)
	if got := value(h.m.ackErrors.WithLabelValues(testName)); got < 1 {
		t.Errorf("ack_errors_total = %v, want >= 1", got)
	}
	// A batch while the acks still fail: the handler refuses it (Retry)
	// rather than pile up more unacked entries.
	h.add(5, validMod(5))
	more := h.readAll()
	b2 := &stream.Batch{Stream: testKey, Group: testGroup, Consumer: h.c.ConsumerName(0), Source: stream.SourceNew,
		Attempt: 1, Msgs: more, Deliveries: []int64{1}}
	if err := h.s.HandleBatch(context.Background(), b2); !stream.IsRetry(err) {
		t.Errorf("HandleBatch while acks fail = %v, want a stream.Retry error", err)
	}
	calls := ack.calls.Load()
	h.s.Tick(context.Background(), time.Now())
	if ack.calls.Load() == calls {
		t.Error("Tick did not retry the failed acks")
	}
	equal(t, "pending after a failed retry", h.pending(), int64(6))

	ack.fail.Store(false)
	h.s.Tick(context.Background(), time.Now())
	equal(t, "pending after Tick", h.pending(), int64(1)) // entry 5 was never handled
	equal(t, "unacked_entries after Tick", value(h.m.unacked.WithLabelValues(testName)), 0.0)
	equal(t, "rows on disk", len(h.fileIDs()), 5)
}

func TestStream_TickCommitsByAge(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, filewriter.Limits{RowGroupRows: 10, FileRows: 100, FileBytes: 1 << 30, FileAge: time.Minute})
	h.s.Tick(context.Background(), time.Now().Add(time.Hour)) // nothing buffered: nothing to do
	equal(t, "files_total of an empty tick", value(h.m.files.WithLabelValues(testName)), 0.0)
	for i := range 3 {
		h.add(i, validMod(i))
	}
	start := time.Now()
	stop := h.run()
	waitFor(t, "3 buffered rows", func() bool { return h.s.Buffered() == 3 })
	stop()
	h.s.Tick(context.Background(), start.Add(30*time.Second))
	equal(t, "buffered before FileAge", h.s.Buffered(), 3)
	equal(t, "rows on disk before FileAge", len(h.fileIDs()), 0)
	h.s.Tick(context.Background(), time.Now().Add(time.Minute))
	equal(t, "buffered after FileAge", h.s.Buffered(), 0)
	equal(t, "rows on disk after FileAge", len(h.fileIDs()), 3)
	equal(t, "pending after FileAge", h.pending(), int64(0))
	equal(t, "files_total", value(h.m.files.WithLabelValues(testName)), 1.0)
	equal(t, "rows_total", value(h.m.rows.WithLabelValues(testName)), 3.0)
	if value(h.m.lastCommit.WithLabelValues(testName)) < float64(start.Unix()) {
		t.Error("last_commit_timestamp_seconds not set by the commit")
	}
}

func TestStream_RunTicks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, filewriter.Limits{RowGroupRows: 10, FileRows: 100, FileBytes: 1 << 30, FileAge: 50 * time.Millisecond})
	h.s.tick = 10 * time.Millisecond
	h.add(0, validMod(0))
	stopConsumer := h.run()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { h.s.Run(ctx); close(done) }()
	waitFor(t, "the aged file", func() bool { return h.pending() == 0 && len(h.fileIDs()) == 1 })
	cancel()
	<-done
	stopConsumer()
}

func TestStream_CloseCommitsAndAcks(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, bigLimits)
	var want []string
	for i := range 20 {
		want = append(want, h.add(i, validMod(i)))
	}
	stop := h.run()
	waitFor(t, "20 buffered rows", func() bool { return h.s.Buffered() == 20 })
	stop()
	equal(t, "pending before Close", h.pending(), int64(20))
	if err := h.s.Close(context.Background()); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	equal(t, "pending after Close", h.pending(), int64(0))
	if got := h.fileIDs(); !slices.Equal(got, want) {
		t.Errorf("rows in files = %v, want %v", got, want)
	}
	// Close with nothing buffered is a no-op.
	if err := h.s.Close(context.Background()); err != nil {
		t.Errorf("second Close() = %v", err)
	}
	equal(t, "files_total", value(h.m.files.WithLabelValues(testName)), 1.0)
}

func TestStream_CloseFailureKeepsEntriesPending(t *testing.T) {
	dir := filepath.Join(t.TempDir(), testName)
	h := newHarness(t, dir, bigLimits)
	for i := range 3 {
		h.add(i, validMod(i))
	}
	stop := h.run()
	waitFor(t, "3 buffered rows", func() bool { return h.s.Buffered() == 3 })
	stop()
	faults[0].apply(t, "", dir)
	if err := h.s.Close(context.Background()); err == nil {
		t.Fatal("Close() with a blocked partition = nil, want the commit error")
	}
	equal(t, "pending after a failed Close", h.pending(), int64(3))
	equal(t, "rows on disk", len(h.fileIDs()), 0)
}
