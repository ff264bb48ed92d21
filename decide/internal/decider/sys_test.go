package decider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// sysStore records ApplySys calls; the first fail calls fail, and while
// onlyFinal is set every call fails whose context has no deadline (RunSys's
// own in these tests; its last flush at shutdown has one).
type sysStore struct {
	mu        sync.Mutex
	fail      int
	onlyFinal bool
	calls     int
	applied   []string // msg ids, in the order applied
}

// SnapshotsSys records the actions handed over like ApplySys.
func (s *sysStore) SnapshotsSys(ctx context.Context, _ []featurestore.Msg, _ []features.Snapshot, acts []featurestore.SysAction) error {
	if len(acts) == 0 {
		return nil
	}
	_, err := s.ApplySys(ctx, acts)
	return err
}

func (s *sysStore) ApplySys(ctx context.Context, acts []featurestore.SysAction) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail > 0 {
		s.fail--
		return 0, errors.New("store down")
	}
	if _, final := ctx.Deadline(); s.onlyFinal && !final {
		return 0, errors.New("store down until the final flush")
	}
	for _, a := range acts {
		s.applied = append(s.applied, a.MsgID)
	}
	return len(acts), nil
}

func (s *sysStore) state() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls, append([]string(nil), s.applied...)
}

func sysActs(from, n int) []featurestore.SysAction {
	var acts []featurestore.SysAction
	for i := from; i < from+n; i++ {
		acts = append(acts, featurestore.SysAction{Channel: "c", UserID: "u", MsgID: fmt.Sprint("m", i), Kind: event.Warn, TsMs: t0})
	}
	return acts
}

func newSysDecider(t *testing.T, st *sysStore) *Decider {
	t.Helper()
	// These tests never write a batch: the bus is never dialled.
	d, err := New(Config{DecisionsStream: "d"}, Deps{Core: testCore(t, 0), Store: st, Bus: &redis.Options{Addr: "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitApplied(t *testing.T, st *sysStore, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, got := st.state()
		if len(got) >= n || time.Now().After(deadline) {
			return got
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// With RunSys, batches only hand their actions over: a failing store is
// retried in the background, every action is applied once and in order,
// and what is pending at shutdown is flushed.
func TestDecider_RunSysRecordsInBackground(t *testing.T) {
	st := &sysStore{fail: 2}
	d := newSysDecider(t, st)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.RunSys(ctx, time.Second); close(done) }()
	// recordSys only queues once RunSys took over.
	for {
		d.sysMu.Lock()
		async := d.sysAsync
		d.sysMu.Unlock()
		if async {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for b := range 10 {
		d.recordSys(ctx, sysActs(b*3, 3))
	}
	got := waitApplied(t, st, 30)
	want := fmt.Sprint(sysActs(0, 30))
	if len(got) != 30 {
		t.Fatalf("applied %d actions, want 30", len(got))
	}
	for i, id := range got {
		if id != fmt.Sprint("m", i) {
			t.Fatalf("applied %v, want m0..m29 in order (%s)", got, want)
		}
	}
	calls, _ := st.state()
	if calls < 3 {
		t.Errorf("%d store calls, want the 2 failures retried", calls)
	}
	// Pending at shutdown: only the last attempt can record them.
	st.mu.Lock()
	st.onlyFinal = true
	st.mu.Unlock()
	d.recordSys(ctx, sysActs(30, 2))
	time.Sleep(150 * time.Millisecond) // a failed flush and its retry
	if _, got := st.state(); len(got) != 30 {
		t.Fatalf("while the store is down %d actions applied, want still 30", len(got))
	}
	cancel()
	<-done
	if got := waitApplied(t, st, 32); len(got) != 32 {
		t.Errorf("after shutdown %d actions applied, want 32", len(got))
	}
	// After RunSys returned, batches record their own actions at once.
	st.mu.Lock()
	st.onlyFinal = false
	st.mu.Unlock()
	d.recordSys(context.Background(), sysActs(32, 1))
	if _, got := st.state(); len(got) != 33 || got[32] != "m32" {
		t.Errorf("synchronous record after RunSys: applied %v, want m32 last", got)
	}
}

// Without RunSys a failed record is kept (at most MaxPendingSys, oldest
// dropped) and retried with the next batch.
func TestDecider_RecordSysKeepsBounded(t *testing.T) {
	st := &sysStore{fail: 1}
	d := newSysDecider(t, st)
	d.cfg.MaxPendingSys = 4
	d.recordSys(context.Background(), sysActs(0, 3))
	d.recordSys(context.Background(), sysActs(3, 3))
	if _, got := st.state(); fmt.Sprint(got) != "[m2 m3 m4 m5]" {
		t.Errorf("applied %v, want [m2 m3 m4 m5] (the 4 newest)", got)
	}
}

// countingStore is the real store, counting how actions reach it.
type countingStore struct {
	*featurestore.Store
	mu     sync.Mutex
	apply  int // ApplySys calls with actions
	handed int // actions taken along by snapshot calls
}

func (c *countingStore) ApplySys(ctx context.Context, acts []featurestore.SysAction) (int, error) {
	c.mu.Lock()
	c.apply++
	c.mu.Unlock()
	return c.Store.ApplySys(ctx, acts)
}

func (c *countingStore) SnapshotsSys(ctx context.Context, msgs []featurestore.Msg, out []features.Snapshot, acts []featurestore.SysAction) error {
	c.mu.Lock()
	c.handed += len(acts)
	c.mu.Unlock()
	return c.Store.SnapshotsSys(ctx, msgs, out, acts)
}

// With RunSys, an executed action rides along with the next batch's
// feature-store call (no round trip of its own), before that batch's
// messages.
func TestDecider_ActionsRideWithTheNextBatch(t *testing.T) {
	e := newEnv(t, envOpts{workers: 1})
	cs := &countingStore{Store: e.store}
	var err error
	e.dec, err = New(Config{DecisionsStream: testKeys.Decisions, Budget: time.Second},
		Deps{Core: e.core, Store: cs, Bus: e.bus.Options(), Executor: e.exec, Terms: testTerms(t), Log: logging.Discard(), Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.dec.Close)
	e.dec.sysHandoff = time.Hour
	e.cons = e.consumer(t, envOpts{workers: 1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.dec.RunSys(ctx, time.Second); close(done) }()
	for {
		e.dec.sysMu.Lock()
		async := e.dec.sysAsync
		e.dec.sysMu.Unlock()
		if async {
			break
		}
		time.Sleep(time.Millisecond)
	}
	stop := run(t, e.cons)
	e.add(t, chat("u", t0, "you badword"))
	first := e.waitDecisions(t, 1)[0]
	if first.ActionFinal.Kind == event.Ignore {
		t.Fatalf("first decision %s, want an action", first.ActionFinal)
	}
	e.add(t, chat("u", t0+1000, "hello"))
	second := e.waitDecisions(t, 2)[1]
	stop()
	cancel()
	<-done
	iSysAct := 12 // last_sys_action_ms
	if event.DecisionSnapshotNames[iSysAct] != "last_sys_action_ms" {
		t.Fatal("snapshot layout changed")
	}
	if second.Snapshot[iSysAct] != first.EventTimeMs {
		t.Errorf("second batch's last_sys_action_ms = %d, want the first's time %d (from the store)", second.Snapshot[iSysAct], first.EventTimeMs)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.handed != 1 || cs.apply != 0 {
		t.Errorf("actions handed to a snapshot call %d, ApplySys calls %d; want 1 and 0", cs.handed, cs.apply)
	}
}

func TestEventTimeMs(t *testing.T) {
	const read = int64(1_700_000_000_000)
	for _, tt := range []struct {
		name string
		c    event.Chat
		want int64
	}{
		{"tmi_sent_ts", event.Chat{TmiSentTsMs: read - 500, ReceivedAtUs: (read - 100) * 1000}, read - 500},
		{"received_at", event.Chat{ReceivedAtUs: (read - 100) * 1000}, read - 100},
		{"neither", event.Chat{}, read},
		{"an hour old (backlog) is kept", event.Chat{TmiSentTsMs: read - 3_600_000}, read - 3_600_000},
		{"slightly ahead is kept", event.Chat{TmiSentTsMs: read + MaxFutureSkewMs}, read + MaxFutureSkewMs},
		{"far future is distrusted", event.Chat{TmiSentTsMs: read + MaxFutureSkewMs + 1}, read},
		{"far future received_at too", event.Chat{ReceivedAtUs: (read + 86_400_000) * 1000}, read},
	} {
		if got := EventTimeMs(&tt.c, read); got != tt.want {
			t.Errorf("%s: EventTimeMs = %d, want %d", tt.name, got, tt.want)
		}
	}
}

// slowStore answers after a pause and records how many calls overlapped.
type slowStore struct {
	nullStore
	pause        time.Duration
	mu           sync.Mutex
	now, maxSeen int
}

func (s *slowStore) SnapshotsSys(ctx context.Context, msgs []featurestore.Msg, out []features.Snapshot, acts []featurestore.SysAction) error {
	s.mu.Lock()
	s.now++
	s.maxSeen = max(s.maxSeen, s.now)
	s.mu.Unlock()
	time.Sleep(s.pause)
	s.mu.Lock()
	s.now--
	s.mu.Unlock()
	return s.nullStore.SnapshotsSys(ctx, msgs, out, acts)
}

// TestDecider_StoreConcurrency: with StoreConcurrency set, no more batches
// than that are in the feature store at once, however many workers call
// HandleBatch; the wait is observed as stage store_wait.
func TestDecider_StoreConcurrency(t *testing.T) {
	bus := &redis.Options{Addr: redistest.Start(t)}
	for _, tt := range []struct{ limit, want int }{{1, 1}, {2, 2}, {0, 4}} {
		t.Run(fmt.Sprintf("limit=%d", tt.limit), func(t *testing.T) {
			st := &slowStore{pause: 100 * time.Millisecond}
			m := NewMetrics(nil)
			d, err := New(Config{DecisionsStream: "d", StoreConcurrency: tt.limit},
				Deps{Core: testCore(t, 0), Store: st, Bus: bus, Terms: testTerms(t), Metrics: m})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					if err := d.HandleBatch(context.Background(), benchBatch(5)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			if st.maxSeen != tt.want {
				t.Errorf("at most %d store calls at once, want %d", st.maxSeen, tt.want)
			}
			waits := sampleCount(m.stage[stageStoreWait])
			if want := map[bool]uint64{true: 4, false: 0}[tt.limit > 0]; waits != want {
				t.Errorf("store_wait observations = %d, want %d", waits, want)
			}
		})
	}
}
