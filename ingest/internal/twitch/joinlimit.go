package twitch

import (
	"context"
	"sync"
	"time"
)

// joinLimiter enforces Twitch's JOIN limit (limit channel joins per window,
// per account) as a sliding window: the next JOIN waits until the oldest of
// the last limit joins is a full window old. Unlike a token bucket it never
// allows more than limit joins in any window. It is shared by all
// connections of a Client.
type joinLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error

	mu    sync.Mutex
	times []time.Time // grant times within the last window, oldest first
}

func newJoinLimiter(limit int, window time.Duration) *joinLimiter {
	return &joinLimiter{limit: limit, window: window, now: time.Now, sleep: sleepCtx}
}

// take waits until at least one join may be sent, then reserves up to n
// and returns how many it reserved.
func (l *joinLimiter) take(ctx context.Context, n int) (int, error) {
	for {
		l.mu.Lock()
		now := l.now()
		i := 0
		for i < len(l.times) && now.Sub(l.times[i]) >= l.window {
			i++
		}
		l.times = append(l.times[:0], l.times[i:]...)
		if avail := l.limit - len(l.times); avail > 0 {
			k := min(avail, n)
			for range k {
				l.times = append(l.times, now)
			}
			l.mu.Unlock()
			return k, nil
		}
		wait := l.times[0].Add(l.window).Sub(now)
		l.mu.Unlock()
		if err := l.sleep(ctx, wait); err != nil {
			return 0, err
		}
	}
}

// sleepCtx sleeps for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
