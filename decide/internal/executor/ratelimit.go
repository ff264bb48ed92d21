package executor

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// errWaitPastDeadline is returned when a rate-limit slot is only free after
// the request's deadline: the slot is not booked, so a request that cannot
// run does not push later ones back.
var errWaitPastDeadline = errors.New("executor: rate limit wait exceeds the request deadline")

// window is a sliding-window limiter with reservations: the k-th grant is
// booked at max(now, grant[k-limit] + per), so no half-open interval of
// length per ever holds more than limit grants. Grants are non-decreasing as
// long as now is.
type window struct {
	per   time.Duration
	slots []time.Time // the last limit grants, a ring; zero = unused
	next  int
	last  time.Time // latest grant
}

func newWindow(limit int, per time.Duration) *window {
	return &window{per: per, slots: make([]time.Time, limit)}
}

// reserve books the earliest slot at or after now and returns how long to
// wait for it. If that slot lies after deadline (when non-zero), nothing is
// booked and ok is false.
func (w *window) reserve(now, deadline time.Time) (wait time.Duration, ok bool) {
	t := now
	if old := w.slots[w.next]; !old.IsZero() {
		if o := old.Add(w.per); o.After(t) {
			t = o
		}
	}
	if t.Before(w.last) {
		t = w.last
	}
	if !deadline.IsZero() && t.After(deadline) {
		return t.Sub(now), false
	}
	w.slots[w.next] = t
	w.next = (w.next + 1) % len(w.slots)
	w.last = t
	return t.Sub(now), true
}

// serverBucket mirrors Helix's Ratelimit-* headers: after a response says
// Remaining is n, n more calls go out before waiting for Reset.
type serverBucket struct {
	known     bool
	remaining int
	reset     time.Time
}

// limiter holds every local rate limit of one Helix client.
type limiter struct {
	now func() time.Time

	// mu guards everything below.
	mu           sync.Mutex
	channelLimit int
	channelPer   time.Duration
	channels     map[string]*window
	global       *window
	server       serverBucket
}

// maxIdleChannels bounds the per-channel map; idle windows are pruned
// beyond it.
const maxIdleChannels = 4096

func newLimiter(channelLimit int, channelPer time.Duration, globalLimit int, globalPer time.Duration, now func() time.Time) *limiter {
	return &limiter{
		now:          now,
		channelLimit: channelLimit,
		channelPer:   channelPer,
		channels:     make(map[string]*window),
		global:       newWindow(globalLimit, globalPer),
	}
}

// reserveChannel books a timeout slot for channel room.
func (l *limiter) reserveChannel(room string, deadline time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w := l.channels[room]
	if w == nil {
		if len(l.channels) >= maxIdleChannels {
			for k, cw := range l.channels {
				if now.Sub(cw.last) > cw.per {
					delete(l.channels, k)
				}
			}
		}
		w = newWindow(l.channelLimit, l.channelPer)
		l.channels[room] = w
	}
	return w.reserve(now, deadline)
}

// reserveGlobal books a slot of the global limit.
func (l *limiter) reserveGlobal(deadline time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.global.reserve(l.now(), deadline)
}

// reserveServer takes one point of the header-seeded bucket, or returns how
// long to wait for Ratelimit-Reset when none is left.
func (l *limiter) reserveServer() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := &l.server
	if !b.known {
		return 0
	}
	now := l.now()
	if !now.Before(b.reset) {
		b.known = false // the bucket refilled; the next response re-seeds it
		return 0
	}
	if b.remaining > 0 {
		b.remaining--
		return 0
	}
	return b.reset.Sub(now)
}

// observe seeds the server bucket from a response's headers. It returns the
// reset time and whether the headers were present and well formed.
func (l *limiter) observe(h http.Header) (remaining int, reset time.Time, ok bool) {
	rem, err1 := strconv.Atoi(h.Get("Ratelimit-Remaining"))
	rs, err2 := strconv.ParseInt(h.Get("Ratelimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || rem < 0 || rs <= 0 {
		return 0, time.Time{}, false
	}
	reset = time.Unix(rs, 0)
	l.mu.Lock()
	l.server = serverBucket{known: true, remaining: rem, reset: reset}
	l.mu.Unlock()
	return rem, reset, true
}
