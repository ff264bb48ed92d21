package executor

import (
	"context"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// newBarePool returns a Pool without workers or results writer
// goroutine: the caller drains the queue itself.
func newBarePool(tb testing.TB, queue int) *Pool {
	tb.Helper()
	m, err := newPoolMetrics(nil, func() float64 { return 0 }, queue)
	if err != nil {
		tb.Fatal(err)
	}
	return &Pool{
		cfg:     Config{QueueSize: queue},
		m:       m,
		log:     logging.Discard(),
		now:     time.Now,
		drops:   logging.NewSampler(5, 10*time.Second),
		fails:   logging.NewSampler(5, 10*time.Second),
		queue:   make(chan job, queue),
		results: &resultWriter{in: make(chan Result), m: m}, // nobody reads: add counts a loss
	}
}

func drain(p *Pool) {
	for len(p.queue) > 0 {
		<-p.queue
	}
}

func benchRequest() Request {
	return Request{
		DecisionID: "0b7c3f4e-1f0a-4a57-9d0e-3f3c0a1e2b44", MsgID: "3c92014f-340a-4dc3-a9c9-e5cf182f4a84",
		BroadcasterID: "500000000", Channel: "simchan0", UserID: "48215771", Login: "onche",
		Action: event.Action{Kind: event.Timeout, DurationS: 600}, Reason: "spam", DecidedAt: time.Now(),
	}
}

// BenchmarkPool_Submit measures the decision path's cost of handing over an
// action: accepted (a consumer keeps up) and dropped (queue full).
func BenchmarkPool_Submit(b *testing.B) {
	ctx := context.Background()
	req := benchRequest()
	b.Run("accepted", func(b *testing.B) {
		p := newBarePool(b, 4096)
		b.ReportAllocs()
		for b.Loop() {
			if !p.Submit(ctx, req) {
				drain(p)
			}
		}
	})
	b.Run("dropped", func(b *testing.B) {
		p := newBarePool(b, 1)
		p.Submit(ctx, req)
		b.ReportAllocs()
		for b.Loop() {
			p.Submit(ctx, req)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		p := newBarePool(b, 1<<16)
		done := make(chan struct{})
		go func() { // a real consumer on another goroutine
			for {
				select {
				case <-p.queue:
				case <-done:
					return
				}
			}
		}()
		defer close(done)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Submit(ctx, req)
			}
		})
	})
}

func TestPool_SubmitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	req := benchRequest()
	p := newBarePool(t, 1<<12)
	if n := testing.AllocsPerRun(1000, func() {
		if !p.Submit(ctx, req) {
			drain(p)
		}
	}); n != 0 {
		t.Errorf("Submit (accepted) allocates %g times per call, want 0", n)
	}
	full := newBarePool(t, 1)
	full.Submit(ctx, req)
	if n := testing.AllocsPerRun(1000, func() { full.Submit(ctx, req) }); n != 0 {
		t.Errorf("Submit (dropped) allocates %g times per call, want 0", n)
	}
}

// TestPool_SubmitNeverBlocks checks that Submit returns at once even when
// no worker drains the queue.
func TestPool_SubmitNeverBlocks(t *testing.T) {
	p := newBarePool(t, 2)
	done := make(chan struct{})
	go func() {
		for range 1000 {
			p.Submit(context.Background(), benchRequest())
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("1000 Submit calls on a full queue did not return within 5s")
	}
	if got := len(p.queue); got != 2 {
		t.Errorf("queue holds %d, want 2 (the rest dropped)", got)
	}
}
