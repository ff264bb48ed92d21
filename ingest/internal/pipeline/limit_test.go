package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/ratelimit"
)

// fakeLimiter allows allow[key] per call, or fails with err.
type fakeLimiter struct {
	allow map[string]int
	err   error
	calls [][]ratelimit.Request
}

func (f *fakeLimiter) AllowAtMost(_ context.Context, reqs []ratelimit.Request) error {
	f.calls = append(f.calls, append([]ratelimit.Request(nil), reqs...))
	if f.err != nil {
		return f.err
	}
	for i := range reqs {
		reqs[i].Allowed = min(reqs[i].N, f.allow[reqs[i].Key])
	}
	return nil
}

func chatIn(ch string, i int) string {
	l := strings.Replace(chatLine, "#chan", "#"+ch, 1)
	return strings.Replace(l, "id=1111", fmt.Sprintf("id=%s%04d", ch, i), 1)
}

// runLimit parses lines into one Events batch and passes it through a
// Limiter stage with rl.
func runLimit(t *testing.T, rl RateLimiter, lines ...string) (*metrics.Metrics, *Events) {
	t.Helper()
	m := newMetrics()
	p := NewParser(ParserConfig{}, nil, nil, m)
	ev := newEvents()
	p.Process(batch(m, 1, lines...), ev)
	in, out := make(chan *Events, 1), make(chan *Events, 1)
	in <- ev
	close(in)
	if err := NewLimiter(rl, time.Second, in, out, m, nil).Run(context.Background()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := <-out
	if _, ok := <-out; ok {
		t.Fatal("out not closed")
	}
	return m, got
}

func TestLimiter_FirstKPassPerChannel(t *testing.T) {
	rl := &fakeLimiter{allow: map[string]int{"a": 2, "b": 0}}
	m, ev := runLimit(t, rl, chatIn("a", 1), chatIn("b", 1), chatIn("a", 2), timeoutLine, chatIn("a", 3), chatIn("b", 2))
	if len(rl.calls) != 1 {
		t.Fatalf("%d rate-limit calls, want 1 per batch", len(rl.calls))
	}
	gotReqs := fmt.Sprint(rl.calls[0])
	if want := "[{a 3 0} {b 2 0}]"; gotReqs != want {
		t.Errorf("requests = %s, want %s", gotReqs, want)
	}
	var passed []string
	for i, e := range ev.entries {
		if e.limited {
			continue
		}
		if e.kind == metrics.Chat {
			passed = append(passed, decodeChat(t, ev, i).MsgID)
		} else {
			passed = append(passed, "mod")
		}
	}
	if got, want := strings.Join(passed, ","), "a0001,a0002,mod"; !sameIDs(got, want) {
		t.Errorf("passed = %s, want %s", got, want)
	}
	equal(t, "rate_limited{chat}", metrics.Value(m.RateLimited[metrics.Chat]), 3)
	equal(t, "ratelimit_checks{ok}", metrics.Value(m.RateLimitOK), 1)
	for _, e := range ev.entries {
		if !e.limited {
			m.InFlight[e.kind].Dec()
			m.Published[e.kind].Inc()
		}
	}
	balanced(t, m)
}

// sameIDs compares "a0001-..." style ids by their prefix.
func sameIDs(got, want string) bool {
	g, w := strings.Split(got, ","), strings.Split(want, ",")
	if len(g) != len(w) {
		return false
	}
	for i := range g {
		if !strings.HasPrefix(g[i], w[i]) {
			return false
		}
	}
	return true
}

func TestLimiter_FailsOpen(t *testing.T) {
	rl := &fakeLimiter{err: errors.New("redis down")}
	m, ev := runLimit(t, rl, chatIn("a", 1), chatIn("a", 2))
	for _, e := range ev.entries {
		if e.limited {
			t.Error("entry limited although the limiter failed")
		}
	}
	equal(t, "ratelimit_fail_open_total", metrics.Value(m.RateLimitFailOpen), 2)
	equal(t, "ratelimit_checks{error}", metrics.Value(m.RateLimitErrors), 1)
}

func TestLimiter_NilForwards(t *testing.T) {
	m, ev := runLimit(t, nil, chatIn("a", 1), timeoutLine)
	equal(t, "entries", ev.Len(), 2)
	equal(t, "rate_limited{chat}", metrics.Value(m.RateLimited[metrics.Chat]), 0)
}

func TestLimiter_ModOnlyBatchSkipsRedis(t *testing.T) {
	rl := &fakeLimiter{}
	runLimit(t, rl, timeoutLine, banLine)
	equal(t, "rate-limit calls", len(rl.calls), 0)
}
