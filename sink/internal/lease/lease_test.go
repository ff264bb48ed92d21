package lease

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

func newLease(t *testing.T, rdb *redis.Client, owner string) *Lease {
	t.Helper()
	l, err := New(rdb, "test:lease", owner, 300*time.Millisecond, logging.Discard())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestLease_StandbyWaitsForRelease(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	ctx := context.Background()
	a, b := newLease(t, rdb, "a"), newLease(t, rdb, "b")
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	hctx, stopHold := context.WithCancel(ctx)
	held := make(chan error, 1)
	go func() { held <- a.Hold(hctx) }()

	got := make(chan error, 1)
	go func() { got <- b.Acquire(ctx) }()
	// a renews: b stays a standby well past the ttl.
	select {
	case err := <-got:
		t.Fatalf("standby acquired a held lease: %v", err)
	case <-time.After(time.Second):
	}
	stopHold()
	if err := <-held; err != nil {
		t.Fatalf("Hold after cancel = %v, want nil", err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("standby Acquire = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("standby did not take the released lease")
	}
	if v, _ := rdb.Get(ctx, "test:lease").Result(); v != "b" {
		t.Errorf("holder = %q, want b", v)
	}
	// a's Release no longer touches b's lease.
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := rdb.Get(ctx, "test:lease").Result(); v != "b" {
		t.Errorf("after a stale release the holder is %q, want b", v)
	}
}

func TestLease_SameOwnerTakesOverAtOnce(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	ctx := context.Background()
	if err := newLease(t, rdb, "a").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	// A restart of a (killed, lease not released) acquires without waiting.
	start := time.Now()
	if err := newLease(t, rdb, "a").Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("re-acquire by the same owner took %s", d)
	}
}

func TestLease_ExpiredLeaseIsTaken(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	ctx := context.Background()
	if err := newLease(t, rdb, "a").Acquire(ctx); err != nil { // never renewed: a crashed
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := newLease(t, rdb, "b").Acquire(cctx); err != nil {
		t.Fatalf("Acquire of an expired lease = %v", err)
	}
}

func TestLease_HoldReportsLoss(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	ctx := context.Background()
	a := newLease(t, rdb, "a")
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Hold(ctx) }()
	if err := rdb.Set(ctx, "test:lease", "intruder", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, ErrLost) {
			t.Errorf("Hold = %v, want ErrLost", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Hold did not notice the lease was taken")
	}
}

func TestLease_HoldGivesUpWhenRedisIsGone(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 50 * time.Millisecond})
	defer rdb.Close()
	ctx := context.Background()
	a := newLease(t, rdb, "a")
	if err := a.Acquire(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Hold(ctx) }()
	srv.Stop()
	select {
	case err := <-done:
		if !errors.Is(err, ErrLost) {
			t.Errorf("Hold = %v, want ErrLost", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Hold kept writing rights without renewing for longer than the ttl")
	}
}

func TestNew_RejectsBadArguments(t *testing.T) {
	for _, c := range []struct {
		key, owner string
		ttl        time.Duration
	}{{"", "a", time.Second}, {"k", "", time.Second}, {"k", "a", time.Millisecond}} {
		if _, err := New(nil, c.key, c.owner, c.ttl, logging.Discard()); err == nil {
			t.Errorf("New(%q, %q, %s) = nil error", c.key, c.owner, c.ttl)
		}
	}
}
