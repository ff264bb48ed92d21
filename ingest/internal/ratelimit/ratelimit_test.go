package ratelimit

import (
	"context"
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
// msgs/s over 100 channels (about 65 channels a batch). redis-us/key is the
// Redis server's CPU time per checked key, the cost its single thread pays.
func BenchmarkLimiter_AllowAtMost(b *testing.B) {
	addr := redistest.Start(b)
	l, err := New(newClient(b, addr), "", PerSecond(600, 1200))
	if err != nil {
		b.Fatal(err)
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
	b.ReportMetric((redistest.CPU(b, addr)-c0)*1e6/float64(b.N*len(reqs)), "redis-us/key")
}
