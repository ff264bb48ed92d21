package logging

import (
	"sync/atomic"
	"time"
)

// Sampler lets through at most Burst events per Interval and counts the rest,
// so hot paths that see bad input at raid volume log a sample instead of
// flooding the log. The zero value allows nothing; use NewSampler.
type Sampler struct {
	interval int64 // nanoseconds
	burst    int64

	windowStart atomic.Int64
	inWindow    atomic.Int64
	suppressed  atomic.Int64
}

// NewSampler returns a sampler allowing burst events per interval.
func NewSampler(burst int, interval time.Duration) *Sampler {
	return &Sampler{interval: int64(interval), burst: int64(burst)}
}

// Allow reports whether an event at now should be logged. When it returns
// true, suppressed is the number of events dropped since the last allowed one.
func (s *Sampler) Allow(now time.Time) (ok bool, suppressed int64) {
	t := now.UnixNano()
	start := s.windowStart.Load()
	if t-start >= s.interval && s.windowStart.CompareAndSwap(start, t) {
		s.inWindow.Store(0)
	}
	if s.inWindow.Add(1) <= s.burst {
		return true, s.suppressed.Swap(0)
	}
	s.suppressed.Add(1)
	return false, 0
}
