package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/ratelimit"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// RateLimiter grants up to N events per key; *ratelimit.Limiter implements
// it against Redis.
type RateLimiter interface {
	AllowAtMost(ctx context.Context, reqs []ratelimit.Request) error
}

var _ RateLimiter = (*ratelimit.Limiter)(nil)

// Limiter is the rate-limit stage. It applies the per-channel limit to chat
// entries (mod entries always pass): for each channel in a batch it asks for
// n and lets the first k allowed through. With a nil RateLimiter it only
// forwards.
type Limiter struct {
	rl      RateLimiter
	timeout time.Duration
	in      <-chan *Events
	out     chan<- *Events
	m       *metrics.Metrics
	log     *slog.Logger
	sampler *logging.Sampler

	reqs []ratelimit.Request
	idx  map[string]int
}

// NewLimiter returns the stage. timeout bounds one rate-limit round trip;
// on error or timeout the batch passes unchecked (fail open).
func NewLimiter(rl RateLimiter, timeout time.Duration, in <-chan *Events, out chan<- *Events, m *metrics.Metrics, log *slog.Logger) *Limiter {
	if log == nil {
		log = logging.Discard()
	}
	return &Limiter{
		rl: rl, timeout: timeout, in: in, out: out, m: m, log: log,
		sampler: logging.NewSampler(1, 10*time.Second),
		idx:     make(map[string]int),
	}
}

// Run limits batches until in is closed, then closes out. Once ctx is done
// batches are dropped (shutdown) instead of forwarded.
func (l *Limiter) Run(ctx context.Context) error {
	defer close(l.out)
	for ev := range l.in {
		if ctx.Err() != nil {
			ev.dropAll(l.m, metrics.DropShutdown)
			continue
		}
		if l.rl != nil {
			l.limit(ctx, ev)
		}
		select {
		case l.out <- ev:
		case <-ctx.Done():
			ev.dropAll(l.m, metrics.DropShutdown)
		}
	}
	return nil
}

func (l *Limiter) limit(ctx context.Context, ev *Events) {
	clear(l.idx)
	l.reqs = l.reqs[:0]
	chat := 0
	for _, e := range ev.entries {
		if e.kind != metrics.Chat || e.limited {
			continue
		}
		chat++
		j, ok := l.idx[e.channel]
		if !ok {
			j = len(l.reqs)
			l.idx[e.channel] = j
			l.reqs = append(l.reqs, ratelimit.Request{Key: e.channel})
		}
		l.reqs[j].N++
	}
	if chat == 0 {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, l.timeout)
	err := l.rl.AllowAtMost(cctx, l.reqs)
	cancel()
	if err != nil {
		l.m.RateLimitErrors.Inc()
		l.m.RateLimitFailOpen.Add(float64(chat))
		if ok, suppressed := l.sampler.Allow(time.Now()); ok {
			l.log.Warn("rate limit check failed; letting the batch through", logging.Err(err),
				slog.Int(logging.KeyCount, chat), slog.Int64("suppressed", suppressed))
		}
		return
	}
	l.m.RateLimitOK.Inc()
	for i := range ev.entries {
		e := &ev.entries[i]
		if e.kind != metrics.Chat || e.limited {
			continue
		}
		r := &l.reqs[l.idx[e.channel]]
		if r.Allowed > 0 {
			r.Allowed--
			continue
		}
		e.limited = true
		l.m.InFlight[metrics.Chat].Dec()
		l.m.RateLimited[metrics.Chat].Inc()
	}
}
