package decider

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// sysStore records ApplySys calls; the first fail calls fail.
type sysStore struct {
	mu      sync.Mutex
	fail    int
	calls   int
	applied []string // msg ids, in the order applied
}

func (*sysStore) Snapshots(context.Context, []featurestore.Msg, []features.Snapshot) error {
	return nil
}

func (s *sysStore) ApplySys(_ context.Context, acts []featurestore.SysAction) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.fail > 0 {
		s.fail--
		return 0, errors.New("store down")
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
	d, err := New(Config{DecisionsStream: "d"}, Deps{Core: testCore(t, 0), Store: st, Bus: nullBus{}})
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
	// Pending at shutdown: flushed by the last attempt.
	st.mu.Lock()
	st.fail = 1000 // RunSys cannot record them while running...
	st.mu.Unlock()
	d.recordSys(ctx, sysActs(30, 2))
	time.Sleep(20 * time.Millisecond)
	st.mu.Lock()
	st.fail = 0 // ...but the store is back for the final flush
	st.mu.Unlock()
	cancel()
	<-done
	if got := waitApplied(t, st, 32); len(got) != 32 {
		t.Errorf("after shutdown %d actions applied, want 32", len(got))
	}
	// After RunSys returned, batches record their own actions at once.
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
