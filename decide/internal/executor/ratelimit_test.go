package executor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

func TestWindow_Reserve(t *testing.T) {
	t0 := time.Unix(1000, 0)
	w := newWindow(3, time.Second)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	tests := []struct {
		now      time.Duration
		deadline time.Duration // 0 = none
		wantWait time.Duration
		wantOK   bool
	}{
		{0, 0, 0, true},
		{0, 0, 0, true},
		{100 * time.Millisecond, 0, 0, true},
		{200 * time.Millisecond, 0, 800 * time.Millisecond, true},                            // slot of the 1st grant + 1s
		{200 * time.Millisecond, 500 * time.Millisecond, 800 * time.Millisecond, false},      // past the deadline: not booked
		{200 * time.Millisecond, 0, 800 * time.Millisecond, true},                            // 2nd grant + 1s
		{300 * time.Millisecond, 0, 800 * time.Millisecond, true},                            // 3rd grant (0.1s) + 1s
		{300 * time.Millisecond, 0, 1700 * time.Millisecond, true},                           // 4th grant (1s) + 1s
		{5 * time.Second, 0, 0, true},                                                        // long idle: free again
		{5 * time.Second, 5*time.Second + time.Millisecond, 0, true},                         // within the deadline
		{5*time.Second + 10*time.Millisecond, 6 * time.Second, 0, true},                      // third of the new burst
		{5*time.Second + 20*time.Millisecond, 6 * time.Second, 980 * time.Millisecond, true}, // exactly at the deadline
	}
	for i, tt := range tests {
		var dl time.Time
		if tt.deadline != 0 {
			dl = at(tt.deadline)
		}
		wait, ok := w.reserve(at(tt.now), dl)
		if wait != tt.wantWait || ok != tt.wantOK {
			t.Errorf("step %d: reserve(%s, %s) = %s, %t; want %s, %t", i, tt.now, tt.deadline, wait, ok, tt.wantWait, tt.wantOK)
		}
	}
}

// TestWindow_NeverExceeds checks the invariant for random arrivals: no
// interval of length per holds more than limit grants.
func TestWindow_NeverExceeds(t *testing.T) {
	const limit, per = 5, time.Second
	w := newWindow(limit, per)
	now := time.Unix(0, 0)
	var grants []time.Time
	for i := range 500 {
		now = now.Add(time.Duration((i*7919)%300) * time.Millisecond)
		wait, ok := w.reserve(now, time.Time{})
		if !ok {
			t.Fatalf("reserve without deadline refused")
		}
		grants = append(grants, now.Add(wait))
	}
	for i := limit; i < len(grants); i++ {
		if d := grants[i].Sub(grants[i-limit]); d < per {
			t.Fatalf("grants %d and %d are %s apart, want >= %s", i-limit, i, d, per)
		}
	}
}

func TestHelix_Backoff(t *testing.T) {
	h := &Helix{cfg: HelixConfig{BackoffBase: 100 * time.Millisecond, BackoffMax: time.Second}}
	h.jitter = func(max time.Duration) time.Duration { return max } // upper bound of full jitter
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 60: time.Second} {
		if got := h.backoff(attempt); got != want {
			t.Errorf("backoff(%d) upper bound = %s, want %s", attempt, got, want)
		}
	}
	h.jitter = func(time.Duration) time.Duration { return 0 }
	if got := h.backoff(3); got != 0 {
		t.Errorf("backoff(3) lower bound = %s, want 0", got)
	}
}

// arrivalsWithin returns the most arrivals found in any window of length d.
func arrivalsWithin(ts []time.Time, d time.Duration) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	best, j := 0, 0
	for i := range ts {
		for ts[i].Sub(ts[j]) >= d {
			j++
		}
		best = max(best, i-j+1)
	}
	return best
}

// schedulingSlack absorbs goroutine wake-up and loopback jitter between the
// executor's reservation and the simulator's clock.
const schedulingSlack = 25 * time.Millisecond

func TestPool_ChannelBanLimit(t *testing.T) {
	const limit, per = 5, 400 * time.Millisecond
	e := newTestEnv(t, func(c *twitchsim.HelixConfig) {
		c.ChannelBanLimit, c.ChannelBanWindow = limit, per-schedulingSlack
	})
	cfg := e.config(t)
	cfg.ChannelBanLimit, cfg.ChannelBanWindow = limit, per
	cfg.Workers = 8
	p := e.newPool(t, cfg)
	const n = 17
	start := time.Now()
	for i := range n {
		p.Submit(context.Background(), request(event.Timeout, strconv.Itoa(1000+i), 60))
	}
	// Another channel is not held back by the first one's limit.
	other := request(event.Timeout, "2000", 60)
	other.BroadcasterID = "101"
	p.Submit(context.Background(), other)
	statuses := map[string]int{}
	for _, r := range e.results(t, n+1) {
		statuses[r[FieldStatus]]++
	}
	if statuses["success"] != n+1 {
		t.Errorf("statuses = %v, want %d success", statuses, n+1)
	}
	var times []time.Time
	var otherAt time.Time
	for _, a := range e.sim.Actions() {
		if a.BroadcasterID == testRoom {
			times = append(times, a.At)
		} else {
			otherAt = a.At
		}
	}
	if got := arrivalsWithin(times, per-schedulingSlack); got > limit {
		t.Errorf("%d timeouts arrived within %s, want at most %d", got, per-schedulingSlack, limit)
	}
	if el := time.Since(start); el < 3*per-schedulingSlack {
		t.Errorf("17 timeouts at 5 per %s took %s, want >= %s", per, el, 3*per)
	}
	if otherAt.Sub(start) > per/2 {
		t.Errorf("timeout in another channel waited %s, want no wait", otherAt.Sub(start))
	}
	if st := e.sim.Stats(); st.ChannelLimited != 0 {
		t.Errorf("simulator refused %d bans for the channel limit, want 0", st.ChannelLimited)
	}
	if w := metric(t, e.reg, "streamsafe_decide_executor_ratelimit_waits_total", "bucket", "channel"); w < n-limit {
		t.Errorf("ratelimit_waits_total{channel} = %g, want >= %d", w, n-limit)
	}
}

func TestPool_GlobalLimit(t *testing.T) {
	const limit, per = 4, 300 * time.Millisecond
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	cfg.GlobalLimit, cfg.GlobalWindow = limit, per
	cfg.Workers = 6
	p := e.newPool(t, cfg)
	const n = 14
	for i := range n {
		r := request(event.Warn, strconv.Itoa(1000+i), 0)
		r.BroadcasterID = strconv.Itoa(100 + i%3)
		p.Submit(context.Background(), r)
	}
	e.results(t, n)
	var times []time.Time
	for _, a := range e.sim.Actions() {
		times = append(times, a.At)
	}
	if len(times) != n {
		t.Fatalf("simulator accepted %d warnings, want %d", len(times), n)
	}
	if got := arrivalsWithin(times, per-schedulingSlack); got > limit {
		t.Errorf("%d calls arrived within %s, want at most %d", got, per-schedulingSlack, limit)
	}
}

func TestPool_LimitWaitPastDeadlineFailsFast(t *testing.T) {
	e := newTestEnv(t, nil)
	cfg := e.config(t)
	cfg.ChannelBanLimit, cfg.ChannelBanWindow = 1, time.Hour
	cfg.RequestTimeout = 500 * time.Millisecond
	p := e.newPool(t, cfg)
	p.Submit(context.Background(), request(event.Timeout, "1", 60))
	p.Submit(context.Background(), request(event.Timeout, "2", 60))
	start := time.Now()
	statuses := map[string]int{}
	for _, r := range e.results(t, 2) {
		statuses[r[FieldStatus]]++
	}
	if statuses["success"] != 1 || statuses["failed"] != 1 {
		t.Errorf("statuses = %v, want 1 success and 1 failed", statuses)
	}
	if el := time.Since(start); el > 400*time.Millisecond {
		t.Errorf("the over-limit request took %s to fail, want at once (the wait exceeds its deadline)", el)
	}
}

// TestHelix_HonoursRatelimitHeaders uses a fake Helix that reports an empty
// bucket: the next call must wait until Ratelimit-Reset.
func TestHelix_HonoursRatelimitHeaders(t *testing.T) {
	var mu sync.Mutex
	var arrivals []time.Time
	var resetAt time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		now := time.Now()
		arrivals = append(arrivals, now)
		remaining := 5
		if len(arrivals) == 1 {
			remaining = 0
			resetAt = time.Unix(now.Unix()+1, 0) // the next whole second
		}
		w.Header().Set("Ratelimit-Limit", "800")
		w.Header().Set("Ratelimit-Remaining", strconv.Itoa(remaining))
		w.Header().Set("Ratelimit-Reset", strconv.FormatInt(now.Unix()+1, 10))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	cfg := DefaultHelixConfig()
	cfg.BaseURL, cfg.Token, cfg.ClientID, cfg.ModeratorID = srv.URL, configSecretForTest("t"), configSecretForTest("c"), "9"
	cfg.RateLimitJitter = 10 * time.Millisecond
	h, err := NewHelix(cfg, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		req := request(event.Delete, "5", 0)
		if out := h.Execute(context.Background(), &req); out.Status != StatusSuccess {
			t.Fatalf("Execute() = %+v, want success", out)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if arrivals[1].Before(resetAt) {
		t.Errorf("second call at %s, before Ratelimit-Reset %s", arrivals[1].Format(time.StampMilli), resetAt.Format(time.StampMilli))
	}
}
