package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Writer defaults.
const (
	DefaultBatchSize     = 256
	DefaultFlushInterval = 5 * time.Millisecond
	DefaultRetryBase     = 50 * time.Millisecond
	DefaultRetryMax      = 2 * time.Second
)

// WriterConfig configures a Writer.
type WriterConfig struct {
	ChatStream, ModStream string
	ChatMaxLen, ModMaxLen int64         // approximate MAXLEN (~) per XADD; 0 disables trimming
	BatchSize             int           // entries per pipelined round trip
	FlushInterval         time.Duration // longest an entry waits for a batch to fill
	RetryBase, RetryMax   time.Duration // backoff between retries of failed entries
	Logger                *slog.Logger
}

func (c *WriterConfig) setDefaults() {
	if c.BatchSize <= 0 {
		c.BatchSize = DefaultBatchSize
	}
	if c.FlushInterval <= 0 {
		c.FlushInterval = DefaultFlushInterval
	}
	if c.RetryBase <= 0 {
		c.RetryBase = DefaultRetryBase
	}
	if c.RetryMax <= 0 {
		c.RetryMax = DefaultRetryMax
	}
	if c.Logger == nil {
		c.Logger = logging.Discard()
	}
}

// pending is one entry waiting to be accepted by Redis.
type pending struct {
	kind metrics.Kind
	vals []any
}

// Writer is the Redis stage: it XADDs entries in pipelined batches, over
// a connection of its own (stream.RawConn: each round trip is encoded
// straight into one buffer and written at once).
type Writer struct {
	cfg     WriterConfig
	raw     *stream.RawConn
	timeout time.Duration // one round trip
	in      <-chan *Events
	m       *metrics.Metrics
	log     *slog.Logger

	pending []pending
	held    []*Events // batches whose args pending refers to
	replies []stream.Reply
}

// NewWriter returns the stage reading in and writing to the Redis opts
// names (its address, TLS, credentials and DB; a round trip is bounded by
// the larger of its read and write timeouts, 3s when unset).
func NewWriter(cfg WriterConfig, opts *redis.Options, in <-chan *Events, m *metrics.Metrics) *Writer {
	cfg.setDefaults()
	timeout := max(opts.ReadTimeout, opts.WriteTimeout)
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	return &Writer{cfg: cfg, raw: stream.NewRawConn(opts), timeout: timeout, in: in, m: m, log: cfg.Logger}
}

// Run publishes until in is closed and everything taken is published (or,
// once ctx is done, dropped as shutdown).
func (w *Writer) Run(ctx context.Context) error {
	defer w.raw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if len(w.pending) == 0 {
			ev, ok := <-w.in
			if !ok {
				return nil
			}
			w.take(ev)
			timer.Reset(w.cfg.FlushInterval)
			continue
		}
		if len(w.pending) >= w.cfg.BatchSize {
			w.flush(ctx)
			continue
		}
		select {
		case ev, ok := <-w.in:
			if !ok {
				w.flush(ctx)
				return nil
			}
			w.take(ev)
		case <-timer.C:
			w.flush(ctx)
		}
	}
}

func (w *Writer) take(ev *Events) {
	for _, e := range ev.entries {
		if !e.limited {
			w.pending = append(w.pending, pending{kind: e.kind, vals: ev.args[e.start:e.end:e.end]})
		}
	}
	w.held = append(w.held, ev)
}

// flush sends every pending entry in pipelines of at most BatchSize,
// retrying the entries Redis did not accept (only those) until they are
// accepted or ctx is done. Chunks go in order, so a failing chunk holds
// back the ones after it.
func (w *Writer) flush(ctx context.Context) {
	all := w.pending
	for off := 0; off < len(all); off += w.cfg.BatchSize {
		end := min(off+w.cfg.BatchSize, len(all))
		chunk := all[off:end]
		for attempt := 0; len(chunk) > 0; attempt++ {
			if ctx.Err() != nil {
				// What failed of this chunk, and every later chunk.
				w.dropShutdown(chunk)
				w.dropShutdown(all[end:])
				off = len(all)
				break
			}
			if attempt > 0 {
				w.m.PublishRetries.Add(float64(len(chunk)))
				if !sleep(ctx, backoff(w.cfg.RetryBase, w.cfg.RetryMax, attempt-1)) {
					continue // ctx done: dropped above
				}
			}
			chunk = w.send(ctx, chunk)
		}
	}
	clear(all)
	w.pending = all[:0]
	for _, ev := range w.held {
		ev.release()
	}
	w.held = w.held[:0]
}

// dropShutdown accounts entries abandoned at the drain deadline.
func (w *Writer) dropShutdown(ps []pending) {
	if len(ps) == 0 {
		return
	}
	for _, p := range ps {
		w.m.InFlight[p.kind].Dec()
		w.m.Dropped[p.kind][metrics.DropShutdown].Inc()
	}
	w.log.Warn("shutdown deadline passed; dropping unpublished entries", slog.Int(logging.KeyCount, len(ps)))
}

// send runs one pipelined round trip for batch and returns the entries
// that failed with a transient error, compacted at the front of batch.
// When the connection fails, the entries whose replies were read before
// are settled and the rest are kept (it is unknown whether they were
// added, so a retry may add one twice).
func (w *Writer) send(ctx context.Context, batch []pending) []pending {
	for _, p := range batch {
		st, maxLen := w.cfg.ChatStream, w.cfg.ChatMaxLen
		if p.kind == metrics.Mod {
			st, maxLen = w.cfg.ModStream, w.cfg.ModMaxLen
		}
		w.raw.XAdd(st, maxLen, len(p.vals))
		for _, v := range p.vals {
			w.raw.ArgAny(v)
		}
	}
	start := time.Now()
	replies, connErr := w.raw.Do(ctx, w.timeout, w.replies)
	w.replies = replies
	w.m.PublishDuration.Observe(time.Since(start).Seconds())
	w.m.PublishBatchSize.Observe(float64(len(batch)))

	keep := batch[:0]
	var published [metrics.NumKinds]int
	var firstErr error
	rejected := 0
	for i := range batch {
		p := batch[i]
		var err error
		switch {
		case i >= len(replies): // no reply: the connection failed
			err = connErr
		case replies[i].Err != nil:
			err = replies[i].Err
		case replies[i].Kind != '$':
			err = fmt.Errorf("xadd replied %q", replies[i].Kind)
		}
		switch {
		case err == nil:
			published[p.kind]++
		case permanent(err):
			rejected++
			w.m.InFlight[p.kind].Dec()
			w.m.Dropped[p.kind][metrics.DropRejected].Inc()
			w.log.Error("redis rejected entry; dropping it", logging.Err(err))
		default:
			firstErr = err
			keep = append(keep, p)
		}
	}
	now := float64(time.Now().UnixNano()) / 1e9
	for k, n := range published {
		if n > 0 {
			w.m.Published[k].Add(float64(n))
			w.m.InFlight[k].Sub(float64(n))
			w.m.LastPublished[k].Set(now)
		}
	}
	switch {
	case len(keep) == 0 && rejected == 0:
		w.m.PublishBatches[metrics.BatchOK].Inc()
	case len(keep) == len(batch):
		w.m.PublishBatches[metrics.BatchError].Inc()
	default:
		w.m.PublishBatches[metrics.BatchPartial].Inc()
	}
	if firstErr != nil && !errors.Is(firstErr, context.Canceled) && !errors.Is(firstErr, context.DeadlineExceeded) {
		w.log.Warn("cannot publish to redis; will retry", logging.Err(firstErr), slog.Int(logging.KeyCount, len(keep)))
	}
	return keep
}

// permanent reports whether a Redis error will not go away by retrying the
// same entry (wrong key type, syntax). Connection problems, LOADING,
// READONLY, OOM, BUSY, auth and similar are transient: the entry is kept
// and retried while the readiness flag shows Redis is unavailable.
func permanent(err error) bool {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	msg := rerr.Error()
	switch {
	case strings.HasPrefix(msg, "WRONGTYPE"):
		return true
	case redis.IsMaxClientsError(err):
		return false
	case strings.HasPrefix(msg, "ERR "):
		return true
	}
	return false
}

// backoff returns a full-jitter delay for retry n (0-based).
func backoff(base, maxDelay time.Duration, n int) time.Duration {
	bound := maxDelay
	if n < 30 {
		if d := base << n; d > 0 && d < bound {
			bound = d
		}
	}
	return time.Duration(rand.Int64N(int64(bound))) + 1
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
