package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

func TestLimiter_AllowAtMost_Burst(t *testing.T) {
	addr := redistest.Start(t)
	// One token per hour: nothing refills while the test runs, however slow.
	l, err := New(newClient(t, addr), "t:", Limit{Rate: 1, Burst: 10, Period: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	reqs := []Request{{Key: "a", N: 4}, {Key: "b", N: 25}, {Key: "a", N: 4}, {Key: "a", N: 4}}
	if err := l.AllowAtMost(ctx, reqs); err != nil {
		t.Fatalf("AllowAtMost: %v", err)
	}
	want := []int{4, 10, 4, 2}
	for i, r := range reqs {
		if r.Allowed != want[i] {
			t.Errorf("request %d (%s, n=%d): Allowed = %d, want %d", i, r.Key, r.N, r.Allowed, want[i])
		}
	}
	rdb := newClient(t, addr)
	ttl, err := rdb.TTL(ctx, "t:").Result()
	if err != nil || ttl <= 9*time.Hour || ttl > 10*time.Hour+time.Second {
		t.Errorf("TTL(t:) = %v, %v; want the time until every bucket is full again (b: 10h)", ttl, err)
	}
	if n, err := rdb.HLen(ctx, "t:").Result(); err != nil || n != 2 {
		t.Errorf("HLEN(t:) = %d, %v; want 2 buckets (a, b)", n, err)
	}
}

// Two limiters (two ingest replicas) on one Redis share one bucket per key.
func TestLimiter_SharedAcrossInstances(t *testing.T) {
	addr := redistest.Start(t)
	lim := PerSecond(10, 20)
	a, _ := New(newClient(t, addr), "", lim)
	b, _ := New(newClient(t, addr), "", lim)
	ctx := context.Background()
	start := time.Now()
	total := 0
	for range 5 {
		for _, l := range []*Limiter{a, b} {
			reqs := []Request{{Key: "chan", N: 6}}
			if err := l.AllowAtMost(ctx, reqs); err != nil {
				t.Fatalf("AllowAtMost: %v", err)
			}
			total += reqs[0].Allowed
		}
	}
	// 60 asked; burst 20 plus what refilled (10/s) while the test ran.
	if hi := 20 + int(10*time.Since(start).Seconds()) + 1; total < 20 || total > hi {
		t.Errorf("allowed %d in total over two instances, want 20..%d (one shared burst of 20)", total, hi)
	}

	// After a pause the bucket refills at the rate.
	time.Sleep(300 * time.Millisecond)
	reqs := []Request{{Key: "chan", N: 100}}
	if err := b.AllowAtMost(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if reqs[0].Allowed < 2 || reqs[0].Allowed > 20 {
		t.Errorf("after 300ms at 10/s: Allowed = %d, want 2..20", reqs[0].Allowed)
	}
}

func TestLimiter_ReloadsScriptAfterFlush(t *testing.T) {
	addr := redistest.Start(t)
	rdb := newClient(t, addr)
	l, _ := New(rdb, "", PerSecond(100, 100))
	ctx := context.Background()
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	reqs := []Request{{Key: "x", N: 3}}
	if err := l.AllowAtMost(ctx, reqs); err != nil {
		t.Fatalf("AllowAtMost after SCRIPT FLUSH: %v", err)
	}
	if reqs[0].Allowed != 3 {
		t.Errorf("Allowed = %d, want 3", reqs[0].Allowed)
	}
}

func TestLimiter_ErrorWhenRedisDown(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	defer rdb.Close()
	l, _ := New(rdb, "", PerSecond(100, 100))
	srv.Stop()
	if err := l.AllowAtMost(context.Background(), []Request{{Key: "x", N: 1}}); err == nil {
		t.Error("AllowAtMost with Redis stopped returned nil error")
	}
}

func TestLimit_Validate(t *testing.T) {
	for _, l := range []Limit{{0, 1, time.Second}, {1, 0, time.Second}, {1, 1, 0}} {
		if l.Validate() == nil {
			t.Errorf("Validate(%+v) = nil, want error", l)
		}
	}
	if err := PerSecond(1000, 2000).Validate(); err != nil {
		t.Errorf("Validate(PerSecond(1000,2000)) = %v", err)
	}
}

// Over a second of demand always above the limit, the bucket grants
// burst + rate * (time between the first and the last script run). The
// script runs at unknown moments inside each call, so the bounds use the
// call boundaries.
func TestLimiter_SustainedRate(t *testing.T) {
	l, _ := New(newClient(t, redistest.Start(t)), "", PerSecond(100, 10))
	ctx := context.Background()
	start := time.Now()
	var firstEnd, lastStart time.Time
	total := 0
	for time.Since(start) < time.Second {
		lastStart = time.Now()
		// Ask for more than can ever have accrued, however slow the loop.
		reqs := []Request{{Key: "c", N: 1000}}
		if err := l.AllowAtMost(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		if firstEnd.IsZero() {
			firstEnd = time.Now()
		}
		total += reqs[0].Allowed
		time.Sleep(5 * time.Millisecond)
	}
	end := time.Now()
	lo := 10 + 100*lastStart.Sub(firstEnd).Seconds()
	hi := 10 + 100*end.Sub(start).Seconds()
	if float64(total) < lo-2 || float64(total) > hi+2 {
		t.Errorf("granted %d, want between %.0f and %.0f (burst 10 + 100/s)", total, lo, hi)
	}
}

// BenchmarkLimiter_AllowAtMost checks batches like ingest's at 30,000
// msgs/s over 100 channels (about 65 channels a batch, 1-3 messages each).
// redis-us/key is the Redis server's CPU time per checked key, the cost its
// single thread pays. lease=0 is a round trip per batch; lease=60 is
// ingest's default lease at the load test's limit (100 ms of 600/s), with
// a limit so high that no channel reaches it (the steady state of a run
// whose channels stay under their limit).
func BenchmarkLimiter_AllowAtMost(b *testing.B) {
	for _, lease := range []int{0, 60} {
		b.Run(fmt.Sprintf("lease=%d", lease), func(b *testing.B) {
			addr := redistest.Start(b)
			lim := PerSecond(600, 1200)
			if lease > 0 {
				lim = PerSecond(10_000_000, 20_000_000)
			}
			inner, err := New(newClient(b, addr), "", lim)
			if err != nil {
				b.Fatal(err)
			}
			var l Allower = inner
			if lease > 0 {
				l = NewLeased(inner, lease)
			}
			reqs := make([]Request, 65)
			ctx := context.Background()
			c0 := redistest.CPU(b, addr)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				for j := range reqs {
					i++
					reqs[j] = Request{Key: "simchan" + strconv.Itoa(i*7%100), N: 1 + i%3}
				}
				if err := l.AllowAtMost(ctx, reqs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reqs)), "ns/key")
			b.ReportMetric((redistest.CPU(b, addr)-c0)*1e6/float64(b.N*len(reqs)), "redis-us/key")
		})
	}
}

// grantAll is an Allower granting up to budget events in total, counting
// its calls and the events asked for.
type grantAll struct {
	budget, calls, asked int
	err                  error
}

func (g *grantAll) AllowAtMost(_ context.Context, reqs []Request) error {
	g.calls++
	if g.err != nil {
		return g.err
	}
	for i := range reqs {
		g.asked += reqs[i].N
		reqs[i].Allowed = min(reqs[i].N, g.budget)
		g.budget -= reqs[i].Allowed
	}
	return nil
}

func TestLeased_SpendsLeaseLocally(t *testing.T) {
	in := &grantAll{budget: 1000}
	l := NewLeased(in, 10)
	ctx := context.Background()
	allowed := 0
	for range 4 { // 3 each: the first call takes 3 + 10, the next three spend the lease (9 of 10)
		reqs := []Request{{Key: "a", N: 3}}
		if err := l.AllowAtMost(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		allowed += reqs[0].Allowed
	}
	if allowed != 12 || in.calls != 1 || l.Held("a") != 1 {
		t.Errorf("4 requests of 3: allowed %d, inner calls %d, held %d; want 12, 1, 1", allowed, in.calls, l.Held("a"))
	}
	// A shortfall asks for exactly it plus the lease; another key has its own tokens.
	reqs := []Request{{Key: "a", N: 5}, {Key: "b", N: 2}}
	if err := l.AllowAtMost(ctx, reqs); err != nil {
		t.Fatal(err)
	}
	if reqs[0].Allowed != 5 || reqs[1].Allowed != 2 || in.calls != 2 || in.asked != 13+(4+10)+(2+10) {
		t.Errorf("a 5 (1 held), b 2: allowed %d, %d, calls %d, asked %d; want 5, 2, 2, %d", reqs[0].Allowed, reqs[1].Allowed, in.calls, in.asked, 13+14+12)
	}
	if l.Held("a") != 10 || l.Held("b") != 10 {
		t.Errorf("held a %d, b %d; want 10 and 10", l.Held("a"), l.Held("b"))
	}
}

func TestLeased_ErrorSpendsNothing(t *testing.T) {
	in := &grantAll{budget: 1000}
	l := NewLeased(in, 4)
	ctx := context.Background()
	if err := l.AllowAtMost(ctx, []Request{{Key: "a", N: 1}}); err != nil { // holds 4
		t.Fatal(err)
	}
	in.err = errors.New("redis down")
	reqs := []Request{{Key: "a", N: 6}, {Key: "b", N: 1}}
	if err := l.AllowAtMost(ctx, reqs); err == nil {
		t.Fatal("AllowAtMost with a failing limiter returned nil")
	}
	if reqs[0].Allowed != 0 || reqs[1].Allowed != 0 || l.Held("a") != 4 {
		t.Errorf("after a failed call: allowed %d, %d, held %d; want 0, 0 and the 4 held before", reqs[0].Allowed, reqs[1].Allowed, l.Held("a"))
	}
}

// Leasing changes when tokens are granted, never how many: against Redis
// with no refill, two leasing replicas together get exactly the burst, and
// most requests need no round trip.
func TestLeased_NeverExceedsTheLimit(t *testing.T) {
	addr := redistest.Start(t)
	lim := Limit{Rate: 1, Burst: 50, Period: time.Hour}
	ctx := context.Background()
	var ls []*Leased
	var counts []*countCalls
	for range 2 {
		inner, err := New(newClient(t, addr), "", lim)
		if err != nil {
			t.Fatal(err)
		}
		c := &countCalls{inner: inner}
		counts = append(counts, c)
		ls = append(ls, NewLeased(c, LeaseTokens(lim, 10*time.Hour))) // 10 tokens
	}
	total := 0
	for i := range 40 {
		reqs := []Request{{Key: "chan", N: 2}}
		if err := ls[i%2].AllowAtMost(ctx, reqs); err != nil {
			t.Fatal(err)
		}
		total += reqs[0].Allowed
	}
	if total > 50 || total < 50-2*10 {
		t.Errorf("two leasing replicas asked for 80 of a burst of 50: allowed %d, want 30..50 (at most a lease each unspent)", total)
	}
	if calls := counts[0].n + counts[1].n; calls > 20 {
		t.Errorf("%d round trips for 40 requests of 2 with leases of 10, want at most 20", calls)
	}
}

type countCalls struct {
	inner Allower
	n     int
}

func (c *countCalls) AllowAtMost(ctx context.Context, reqs []Request) error {
	c.n++
	return c.inner.AllowAtMost(ctx, reqs)
}

func TestLeaseTokens(t *testing.T) {
	for _, tt := range []struct {
		lim  Limit
		d    time.Duration
		want int
	}{
		{PerSecond(600, 1200), 100 * time.Millisecond, 60},
		{PerSecond(1000, 2000), 100 * time.Millisecond, 100},
		{PerSecond(7, 100), 100 * time.Millisecond, 1}, // rounded up
		{PerSecond(1000, 30), time.Second, 30},         // at most the burst
		{PerSecond(1000, 2000), 0, 0},
	} {
		if got := LeaseTokens(tt.lim, tt.d); got != tt.want {
			t.Errorf("LeaseTokens(%+v, %v) = %d, want %d", tt.lim, tt.d, got, tt.want)
		}
	}
}
