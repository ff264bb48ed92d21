package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// Defaults of ConsumerConfig.
const (
	DefaultWorkers          = 2
	DefaultBatchCount       = 100
	DefaultBlock            = 2 * time.Second
	DefaultMinIdle          = 60 * time.Second
	DefaultClaimInterval    = 10 * time.Second
	DefaultMaxDeliveries    = 10
	DefaultCallTimeout      = 2 * time.Second
	DefaultInfoInterval     = 5 * time.Second
	DefaultBackoffMin       = 50 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultDeadLetterMaxLen = 100_000
)

// ErrInvalidConsumerConfig is wrapped by the errors of ConsumerConfig.Validate.
var ErrInvalidConsumerConfig = errors.New("stream: invalid consumer config")

// ConsumerConfig configures a Consumer. Zero durations and counts take the
// Default* values (see withDefaults).
type ConsumerConfig struct {
	Stream string // stream key to read
	Group  string // consumer group, created at ID 0 (with MKSTREAM) when missing
	// ConsumerPrefix names the workers "<prefix>-<n>", n = 0..Workers-1. It
	// must be stable across restarts of the same replica (the hostname is a
	// good choice): a worker re-reads the pending entries of its own name.
	ConsumerPrefix string
	Workers        int           // concurrent workers, each with its own consumer name
	BatchCount     int64         // XREADGROUP/XAUTOCLAIM COUNT
	Block          time.Duration // XREADGROUP BLOCK; keep it below the shutdown budget
	// MinIdle is how long an entry must have been pending without a
	// delivery before any worker takes it over with XAUTOCLAIM. Keep it above
	// the longest time a live consumer may hold an entry.
	MinIdle       time.Duration
	ClaimInterval time.Duration // how often each worker runs XAUTOCLAIM
	// MaxDeliveries: an entry delivered more than this many times is moved
	// to DeadLetter instead of being handled.
	MaxDeliveries    int64
	DeadLetter       string        // dead-letter stream key
	DeadLetterMaxLen int64         // MAXLEN ~ of the dead-letter stream
	CallTimeout      time.Duration // timeout of every non-blocking Redis call
	InfoInterval     time.Duration // XINFO GROUPS/XLEN poll period for the lag gauges; <0 disables
	BackoffMin       time.Duration // first retry delay after a failure
	BackoffMax       time.Duration // retry delay cap
	// SetReady, when set, is called with true after a successful read and
	// with false after a failed one (wire it to an ops.Readiness condition).
	SetReady func(ok bool)
	// Prefetch reads the next batch of new entries while the handler
	// processes the current one, so that Redis, the reply parsing and the
	// handler overlap (throughput). The prefetched entries are delivered
	// (pending) one batch earlier; when a batch fails they are re-read from
	// the pending list like the failed ones.
	Prefetch bool
	// FastReads reads entries with XREADGROUP over a connection of each
	// worker's own with a minimal RESP2 parser (one string per reply, every
	// field a substring of it) instead of go-redis, which allocates and
	// copies each field name and value. Needs a *redis.Client (its Options
	// are used to connect); ignored for other clients.
	FastReads bool
	// FlatFields hands the handler each entry's field/value pairs as
	// Batch.Fields (name, value, name, value...) instead of a Values map:
	// with FastReads no map is built at all. Msgs[i].Values may then be
	// nil; Batch.Fields is set for every batch, whatever its source.
	FlatFields bool
	// MinBatchCount, when > 0, makes the COUNT of reads of new entries
	// adaptive between it and BatchCount: reads that have all been full
	// for growAfter (100 ms) double the next COUNT (a backlog: larger
	// batches for throughput), a read that is not full halves it (the
	// backlog is gone: small batches for latency). A few full reads in a row
	// are a burst (producers write in batches: ingest every 5 ms) or a
	// hiccup (a GC pause, a descheduled process), drained in a few
	// milliseconds, not a backlog: growing on them made the following
	// batches, and so the latency tail, larger while the consumer was
	// keeping up. Ignored with ReadInterval, which paces reads instead.
	MinBatchCount int64
	// ReadInterval, when > 0, paces each worker's reads of new entries:
	// after a read that was not full, the worker's next read starts no
	// earlier than ReadInterval after this one did. Under load the workers
	// then read every ReadInterval/Workers between them, in batches of
	// about rate*ReadInterval/Workers, instead of each read taking the few
	// entries that arrived while the others were busy: fewer round trips
	// and fixed per-batch costs per message. A worker that waits does not
	// hold entries back while another worker is blocked reading, so at low
	// rates it adds no latency; a full read (a backlog) is followed by the
	// next read at once. Reads then always ask for BatchCount entries.
	// Ignored with Prefetch.
	ReadInterval time.Duration
}

func (c ConsumerConfig) withDefaults() ConsumerConfig {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.BatchCount == 0 {
		c.BatchCount = DefaultBatchCount
	}
	if c.MaxDeliveries == 0 {
		c.MaxDeliveries = DefaultMaxDeliveries
	}
	if c.DeadLetterMaxLen == 0 {
		c.DeadLetterMaxLen = DefaultDeadLetterMaxLen
	}
	def(&c.Block, DefaultBlock)
	def(&c.MinIdle, DefaultMinIdle)
	def(&c.ClaimInterval, DefaultClaimInterval)
	def(&c.CallTimeout, DefaultCallTimeout)
	def(&c.InfoInterval, DefaultInfoInterval)
	def(&c.BackoffMin, DefaultBackoffMin)
	def(&c.BackoffMax, DefaultBackoffMax)
	return c
}

// Validate reports missing keys and out-of-range values.
func (c ConsumerConfig) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConsumerConfig}, args...)...))
	}
	if c.Stream == "" || c.Group == "" || c.DeadLetter == "" {
		bad("stream, group and dead-letter stream must be set")
	}
	if c.Stream == c.DeadLetter {
		bad("dead-letter stream %q is the stream itself", c.DeadLetter)
	}
	if c.ConsumerPrefix == "" {
		bad("consumer prefix must be set")
	}
	if c.Workers < 1 || c.BatchCount < 1 || c.MaxDeliveries < 1 {
		bad("workers, batch count and max deliveries must be >= 1")
	}
	if c.Block < time.Millisecond {
		bad("block %s must be >= 1ms (0 would block forever)", c.Block)
	}
	if c.MinIdle <= c.Block {
		bad("min idle %s must exceed block %s", c.MinIdle, c.Block)
	}
	if c.MinBatchCount < 0 || c.MinBatchCount > c.BatchCount {
		bad("min batch count %d must be in 0..batch count %d", c.MinBatchCount, c.BatchCount)
	}
	if c.ReadInterval < 0 || c.ReadInterval > time.Second {
		bad("read interval %s must be in 0..1s", c.ReadInterval)
	}
	return errors.Join(errs...)
}

// Consumer reads a stream with a consumer group: Workers goroutines, each a
// stable consumer name, each reading batches and handing them to one Handler.
//
// Per worker:
//  1. At start (and after a failed batch) it re-reads its own pending entries
//     (XREADGROUP ID 0, or the failed batch's predecessor ID) until the reply
//     is empty, then switches to new entries (">", with BLOCK).
//  2. Every ClaimInterval it takes over entries idle for MinIdle under any
//     consumer (a crashed replica, a renamed one) with XAUTOCLAIM, and
//     counts the PEL entries Redis reports as deleted from the stream.
//  3. Entries delivered more than MaxDeliveries times go to the dead-letter
//     stream with their reason, acked in the same MULTI. Entries whose
//     payload was trimmed while pending are acked and counted.
//  4. Redis errors are retried with exponential backoff (BackoffMin to
//     BackoffMax); nothing is acked that was not handled, so entries survive
//     a Redis outage in the PEL and are re-read when it is back (a restarted,
//     empty Redis is handled by re-creating the group).
type Consumer struct {
	rdb redis.UniversalClient
	cfg ConsumerConfig
	h   Handler
	log *slog.Logger
	m   *ConsumerMetrics
}

// NewConsumer returns a Consumer of cfg.Stream handing batches to h. m and
// log may be nil (no metrics, no logs). rdb should have
// ContextTimeoutEnabled set, so that the per-call timeouts bound the socket
// I/O and not only the wait for a pooled connection.
func NewConsumer(rdb redis.UniversalClient, cfg ConsumerConfig, h Handler, log *slog.Logger, m *ConsumerMetrics) (*Consumer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = logging.Discard()
	}
	if m == nil {
		m = NewConsumerMetrics(nil, "")
	}
	m.init(cfg.Stream, cfg.Group)
	return &Consumer{rdb: rdb, cfg: cfg, h: h, log: log.With(logging.KeyStream, cfg.Stream), m: m}, nil
}

// Config returns the effective configuration (defaults applied).
func (c *Consumer) Config() ConsumerConfig { return c.cfg }

// ConsumerName returns the name of worker n.
func (c *Consumer) ConsumerName(n int) string { return c.cfg.ConsumerPrefix + "-" + strconv.Itoa(n) }

// Run runs the workers (and the lag poller) until ctx is done, then waits for
// the in-flight batches to finish and returns nil. A batch that has started
// is finished with a context that shutdown does not cancel (each Redis call
// still has its own timeout), so a SIGTERM never leaves a half-written batch.
func (c *Consumer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for n := range c.cfg.Workers {
		wg.Go(func() { c.work(ctx, c.ConsumerName(n)) })
	}
	if c.cfg.InfoInterval > 0 {
		wg.Go(func() { c.pollInfo(ctx) })
	}
	wg.Wait()
	return nil
}

// Ack acknowledges ids (for handlers that Keep their batches).
func (c *Consumer) Ack(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	if err := c.rdb.XAck(cctx, c.cfg.Stream, c.cfg.Group, ids...).Err(); err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opAck).Inc()
		return fmt.Errorf("ack %d entries of %q: %w", len(ids), c.cfg.Stream, err)
	}
	return nil
}

// EnsureGroup creates the group at ID 0 (and the stream, if missing). An
// existing group is not an error.
func (c *Consumer) EnsureGroup(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	err := c.rdb.XGroupCreateMkStream(cctx, c.cfg.Stream, c.cfg.Group, "0").Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		c.m.errors.WithLabelValues(c.cfg.Stream, opGroup).Inc()
		return fmt.Errorf("create group %q on %q: %w", c.cfg.Group, c.cfg.Stream, err)
	}
	return nil
}

// keyConsumer is the log attribute naming a worker's consumer.
const keyConsumer = "consumer"

// worker is the state of one worker goroutine.
type worker struct {
	c       *Consumer
	name    string
	log     *slog.Logger
	pending bool   // re-reading own pending entries
	cursor  string // last ID seen while re-reading pending entries
	// claim state
	nextClaim   time.Time
	claimCursor string
	failures    int // consecutive failures, for backoff
	// ahead receives the prefetched read of new entries (Prefetch), nil
	// when none is in flight.
	ahead chan readResult
	fast  *respReader // FastReads, nil otherwise
	count int64       // COUNT of the next read of new entries
	// fullSince is when the current run of full reads began (zero: the
	// last read was not full).
	fullSince time.Time
}

// readResult is the outcome of a prefetched read.
type readResult struct {
	msgs   []redis.XMessage
	fields [][]string
	count  int64 // the COUNT it read with
	err    error
}

// dropAhead waits for a prefetched read and forgets it: its entries are
// pending and come back with the next re-read of the pending list.
func (w *worker) dropAhead() {
	if w.ahead != nil {
		<-w.ahead
		w.ahead = nil
	}
}

func (c *Consumer) work(ctx context.Context, name string) {
	w := &worker{c: c, name: name, log: c.log.With(keyConsumer, name), pending: true, cursor: "0", claimCursor: "0-0"}
	if cl, ok := c.rdb.(*redis.Client); ok && c.cfg.FastReads {
		w.fast = newRESPReader(cl.Options())
		defer func() {
			w.fast.mu.Lock()
			w.fast.close()
			w.fast.mu.Unlock()
		}()
	}
	for ctx.Err() == nil {
		if err := c.EnsureGroup(ctx); err != nil {
			w.fail(ctx, "create group", err)
			continue
		}
		break
	}
	defer w.dropAhead() // a prefetch in flight ends with ctx
	for ctx.Err() == nil {
		err := w.step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if isNoGroup(err) {
				// The stream or group vanished (Redis restarted empty, or
				// someone deleted the key): re-create and start over.
				if gerr := c.EnsureGroup(ctx); gerr != nil {
					err = gerr
				}
				w.pending, w.cursor = true, "0"
			}
			w.fail(ctx, "consume", err)
			continue
		}
		w.failures = 0
	}
}

// fail logs err and sleeps the backoff.
func (w *worker) fail(ctx context.Context, what string, err error) {
	w.failures++
	d := backoff(w.c.cfg, w.failures)
	w.log.LogAttrs(ctx, levelFor(w.failures), what+" failed, retrying",
		logging.Err(err), slog.Int(logging.KeyAttempt, w.failures), slog.Duration("backoff", d))
	sleep(ctx, d)
}

// step does one unit of work: a claim pass when due, else one read and its
// batch.
func (w *worker) step(ctx context.Context) error {
	c := w.c
	if now := time.Now(); !w.pending && w.ahead == nil && !now.Before(w.nextClaim) {
		more, err := w.claim(ctx)
		if err != nil {
			return err
		}
		if !more {
			w.nextClaim = now.Add(c.cfg.ClaimInterval)
		}
		return nil
	}
	if w.pending {
		msgs, fields, err := w.read(ctx, w.cursor, -1, c.cfg.BatchCount)
		if err != nil {
			return err
		}
		if len(msgs) == 0 {
			w.pending = false // own backlog drained: switch to new entries
			return nil
		}
		if err := w.process(ctx, SourcePending, msgs, fields); err != nil {
			return err
		}
		w.cursor = msgs[len(msgs)-1].ID
		return nil
	}
	var msgs []redis.XMessage
	var fields [][]string
	var err error
	count := w.batchCount()
	readAt := time.Now()
	if w.ahead != nil {
		r := <-w.ahead
		w.ahead = nil
		msgs, fields, count, err = r.msgs, r.fields, r.count, r.err
	} else {
		msgs, fields, err = w.read(ctx, ">", c.cfg.Block, count)
	}
	if err != nil || len(msgs) == 0 {
		return err
	}
	if c.cfg.ReadInterval > 0 && !c.cfg.Prefetch && int64(len(msgs)) < count {
		defer sleep(ctx, time.Until(readAt.Add(c.cfg.ReadInterval)))
	}
	w.adapt(count, len(msgs), time.Now())
	if c.cfg.Prefetch && ctx.Err() == nil && time.Now().Before(w.nextClaim) {
		ch := make(chan readResult, 1)
		w.ahead = ch
		next := w.batchCount()
		go func() {
			m, f, err := w.read(ctx, ">", c.cfg.Block, next)
			ch <- readResult{msgs: m, fields: f, count: next, err: err}
		}()
	}
	if err := w.process(ctx, SourceNew, msgs, fields); err != nil {
		w.dropAhead()
		return err
	}
	return nil
}

// read runs one XREADGROUP of id ("0"/cursor for pending entries, ">" for
// new ones) with block (-1: no BLOCK). It touches no worker state, so a
// prefetch can run it concurrently with the handler.
func (w *worker) read(ctx context.Context, id string, block time.Duration, count int64) ([]redis.XMessage, [][]string, error) {
	c := w.c
	// The blocking read is the only call cancelled by shutdown: entries it
	// had delivered stay pending and are re-read at the next start.
	timeout := c.cfg.CallTimeout
	if block > 0 {
		timeout += block
	}
	var msgs []redis.XMessage
	var fields [][]string
	var err error
	if w.fast != nil {
		msgs, fields, err = w.fast.xreadgroupFields(ctx, c.cfg.Group, w.name, c.cfg.Stream, id, count, block, timeout, c.cfg.FlatFields)
	} else {
		rctx, cancel := context.WithTimeout(ctx, timeout)
		var streams []redis.XStream
		streams, err = c.rdb.XReadGroup(rctx, &redis.XReadGroupArgs{
			Group: c.cfg.Group, Consumer: w.name, Streams: []string{c.cfg.Stream, id},
			Count: count, Block: block,
		}).Result()
		cancel()
		if len(streams) > 0 {
			msgs = streams[0].Messages
		}
	}
	if errors.Is(err, redis.Nil) {
		err = nil // BLOCK timed out
	}
	if err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opRead).Inc()
		if c.cfg.SetReady != nil && ctx.Err() == nil {
			c.cfg.SetReady(false)
		}
		return nil, nil, fmt.Errorf("read %q as %q: %w", c.cfg.Stream, w.name, err)
	}
	if c.cfg.SetReady != nil {
		c.cfg.SetReady(true)
	}
	return msgs, fields, nil
}

// claim runs one XAUTOCLAIM and processes what it took over. more reports
// that the scan has not finished (call again soon).
func (w *worker) claim(ctx context.Context) (more bool, err error) {
	c := w.c
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	msgs, next, deleted, err := c.rdb.XAutoClaimWithDeleted(cctx, &redis.XAutoClaimArgs{
		Stream: c.cfg.Stream, Group: c.cfg.Group, Consumer: w.name,
		MinIdle: c.cfg.MinIdle, Start: w.claimCursor, Count: c.cfg.BatchCount,
	}).Result()
	cancel()
	if err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opClaim).Inc()
		return false, fmt.Errorf("autoclaim %q as %q: %w", c.cfg.Stream, w.name, err)
	}
	if len(deleted) > 0 {
		// Redis already removed them from the PEL: nothing to ack.
		c.m.trimmed.WithLabelValues(c.cfg.Stream).Add(float64(len(deleted)))
		w.log.LogAttrs(ctx, slog.LevelWarn, "pending entries were trimmed before processing",
			slog.Int(logging.KeyCount, len(deleted)), slog.String("first_id", deleted[0]))
	}
	if len(msgs) > 0 {
		c.m.claimed.WithLabelValues(c.cfg.Stream).Add(float64(len(msgs)))
		w.log.LogAttrs(ctx, slog.LevelInfo, "claimed idle entries",
			slog.Int(logging.KeyCount, len(msgs)), slog.String("first_id", msgs[0].ID))
		if err := w.process(ctx, SourceClaimed, msgs, nil); err != nil {
			return false, err // the claimed entries are ours now: the pending re-read finds them
		}
	}
	if next == "" {
		next = "0-0"
	}
	w.claimCursor = next
	return next != "0-0", nil
}

// process handles one read's entries: drops trimmed ones, dead-letters
// over-delivered ones, calls the handler and settles.
func (w *worker) process(ctx context.Context, src Source, msgs []redis.XMessage, fields [][]string) error {
	c := w.c
	// The batch is finished with a context that shutdown does not cancel;
	// ctx only stops in-place retries.
	hctx := context.WithoutCancel(ctx)
	stream := c.cfg.Stream
	c.m.entries.WithLabelValues(stream, src.String()).Add(float64(len(msgs)))
	b := &Batch{Stream: stream, Group: c.cfg.Group, Consumer: w.name, Source: src, ReadAt: time.Now(), Attempt: 1, c: c}

	// With FlatFields, each entry's pairs by ID (from the reader, or
	// flattened from the Values maps of a claim).
	var flat map[string][]string
	if c.cfg.FlatFields {
		flat = make(map[string][]string, len(msgs))
		for i, m := range msgs {
			if fields != nil {
				flat[m.ID] = fields[i]
			} else if m.Values != nil {
				flat[m.ID] = flatten(m.Values)
			}
		}
	}
	// Entries whose payload was trimmed while pending.
	var trimmed []string
	kept := msgs[:0:0]
	for _, m := range msgs {
		if m.Values == nil && flat[m.ID] == nil {
			trimmed = append(trimmed, m.ID)
			continue
		}
		kept = append(kept, m)
	}
	if len(trimmed) > 0 {
		if err := c.Ack(hctx, trimmed...); err != nil {
			return w.failed(msgs, err)
		}
		c.m.trimmed.WithLabelValues(stream).Add(float64(len(trimmed)))
		w.log.LogAttrs(ctx, slog.LevelWarn, "pending entries were trimmed before processing",
			slog.Int(logging.KeyCount, len(trimmed)), slog.String("first_id", trimmed[0]))
	}
	if len(kept) == 0 {
		return nil
	}

	deliveries := make([]int64, len(kept))
	if src == SourceNew {
		for i := range deliveries {
			deliveries[i] = 1
		}
	} else {
		counts, err := w.deliveryCounts(hctx, kept)
		if err != nil {
			return w.failed(kept, err)
		}
		// Drop entries that are no longer ours (claimed by another worker
		// or acked in between): handling them would duplicate work.
		n := 0
		for _, m := range kept {
			if d, ok := counts[m.ID]; ok {
				kept[n], deliveries[n] = m, d
				n++
			}
		}
		kept, deliveries = kept[:n], deliveries[:n]
	}

	// Over-delivered entries go to the dead-letter stream.
	dead := &Batch{Stream: stream, Group: c.cfg.Group, Consumer: w.name, Source: src, ReadAt: b.ReadAt, c: c}
	n := 0
	for i, m := range kept {
		if deliveries[i] > c.cfg.MaxDeliveries {
			dead.Msgs = append(dead.Msgs, m)
			dead.Deliveries = append(dead.Deliveries, deliveries[i])
			dead.Reject(len(dead.Msgs)-1, ReasonMaxDeliveries)
			continue
		}
		kept[n], deliveries[n] = m, deliveries[i]
		n++
	}
	kept, deliveries = kept[:n], deliveries[:n]
	if len(dead.Msgs) > 0 {
		dead.Fields = fieldsOf(flat, dead.Msgs)
		if err := c.settle(hctx, dead); err != nil {
			return w.failed(dead.Msgs, err)
		}
		w.log.LogAttrs(ctx, slog.LevelWarn, "dead-lettered entries delivered too often",
			slog.Int(logging.KeyCount, len(dead.Msgs)), slog.String("first_id", dead.Msgs[0].ID),
			slog.Int64("max_deliveries", c.cfg.MaxDeliveries))
	}
	if len(kept) == 0 {
		return nil
	}

	b.Msgs, b.Deliveries = kept, deliveries
	b.Fields = fieldsOf(flat, kept)
	c.m.batches.WithLabelValues(stream, src.String()).Inc()
	c.m.batchSize.WithLabelValues(stream).Observe(float64(len(kept)))
	for attempt := 1; ; attempt++ {
		err := c.h.HandleBatch(hctx, b)
		if err == nil {
			break
		}
		c.m.errors.WithLabelValues(stream, opHandle).Inc()
		err = fmt.Errorf("handle batch of %d from %q: %w", len(kept), stream, err)
		if !IsRetry(err) || ctx.Err() != nil {
			return w.failed(kept, err)
		}
		w.log.LogAttrs(ctx, levelFor(attempt), "batch failed, retrying in place",
			logging.Err(err), slog.Int(logging.KeyAttempt, attempt), slog.Int(logging.KeyCount, len(kept)))
		if !sleep(ctx, backoff(c.cfg, attempt)) {
			return w.failed(kept, err) // shutting down: the entries stay pending
		}
		b.reset()
	}
	switch {
	case b.kept:
		// The handler acks the kept entries itself; rejected ones are
		// dead-lettered (and acked) now.
		if rb := b.rejectedOnly(); rb != nil {
			if err := c.settle(hctx, rb); err != nil {
				return w.failed(kept, err)
			}
		}
		return nil
	case !b.settled:
		if err := c.settle(hctx, b); err != nil {
			return w.failed(kept, err)
		}
	default:
		c.countRejects(b)
	}
	return nil
}

// levelFor logs the first of a run of failures, and every 50th, at warn.
func levelFor(attempt int) slog.Level {
	if attempt == 1 || attempt%50 == 0 {
		return slog.LevelWarn
	}
	return slog.LevelDebug
}

// backoff returns the jittered delay before retry attempt (1-based).
func backoff(cfg ConsumerConfig, attempt int) time.Duration {
	d := cfg.BackoffMin << min(attempt-1, 20)
	if d > cfg.BackoffMax || d <= 0 {
		d = cfg.BackoffMax
	}
	return d/2 + rand.N(d/2+1) // [d/2, d]
}

// sleep waits d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// failed switches the worker to re-reading its pending entries from just
// before the first of msgs, so the failed entries are retried (and their
// delivery counts grow), and returns err.
func (w *worker) failed(msgs []redis.XMessage, err error) error {
	first := msgs[0].ID
	for _, m := range msgs[1:] {
		if compareIDs(m.ID, first) < 0 {
			first = m.ID
		}
	}
	if !w.pending || compareIDs(prevID(first), w.cursor) < 0 {
		w.cursor = prevID(first)
	}
	w.pending = true
	return err
}

// settle acks b (and dead-letters its rejects) in one MULTI/EXEC.
func (c *Consumer) settle(ctx context.Context, b *Batch) error {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	tx := c.rdb.TxPipeline()
	b.Settle(tx)
	if _, err := tx.Exec(cctx); err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opAck).Inc()
		return fmt.Errorf("ack %d entries of %q: %w", len(b.Msgs), c.cfg.Stream, err)
	}
	c.countRejects(b)
	return nil
}

func (c *Consumer) countRejects(b *Batch) {
	for _, r := range b.rejects {
		reason := r.reason
		if i := strings.IndexByte(reason, ':'); i >= 0 {
			reason = reason[:i]
		}
		c.m.deadLetters.WithLabelValues(c.cfg.Stream, reason).Inc()
	}
}

func (c *Consumer) deadLetterArgs(d *DeadLetter) *redis.XAddArgs {
	return &redis.XAddArgs{
		Stream: c.cfg.DeadLetter, MaxLen: c.cfg.DeadLetterMaxLen, Approx: true,
		Values: d.Values(make([]any, 0, 18)),
	}
}

// deliveryCounts returns the delivery count of each of msgs that is pending
// for this worker (XPENDING extended form over the ID range of msgs).
func (w *worker) deliveryCounts(ctx context.Context, msgs []redis.XMessage) (map[string]int64, error) {
	return w.c.pendingOf(ctx, w.name, msgs)
}

// pendingOf returns the delivery count of each of msgs that is pending for
// consumer.
func (c *Consumer) pendingOf(ctx context.Context, consumer string, msgs []redis.XMessage) (map[string]int64, error) {
	lo, hi := msgs[0].ID, msgs[0].ID
	want := make(map[string]struct{}, len(msgs))
	for _, m := range msgs {
		want[m.ID] = struct{}{}
		if compareIDs(m.ID, lo) < 0 {
			lo = m.ID
		}
		if compareIDs(m.ID, hi) > 0 {
			hi = m.ID
		}
	}
	out := make(map[string]int64, len(msgs))
	count := max(int64(len(msgs)), 100)
	start := lo
	for {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		ps, err := c.rdb.XPendingExt(cctx, &redis.XPendingExtArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Start: start, End: hi, Count: count, Consumer: consumer,
		}).Result()
		cancel()
		if err != nil {
			c.m.errors.WithLabelValues(c.cfg.Stream, opPending).Inc()
			return nil, fmt.Errorf("read delivery counts of %q: %w", c.cfg.Stream, err)
		}
		for _, p := range ps {
			if _, ok := want[p.ID]; ok {
				out[p.ID] = p.RetryCount
			}
		}
		if int64(len(ps)) < count || len(out) == len(want) {
			return out, nil
		}
		start = "(" + ps[len(ps)-1].ID
	}
}

// pollInfo exports lag, pending and length every InfoInterval. It runs
// outside the workers so a slow XINFO never delays a batch.
func (c *Consumer) pollInfo(ctx context.Context) {
	t := time.NewTicker(c.cfg.InfoInterval)
	defer t.Stop()
	for {
		c.PollInfo(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// PollInfo updates the lag, pending and length gauges once.
func (c *Consumer) PollInfo(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
	defer cancel()
	pipe := c.rdb.Pipeline()
	groups := pipe.XInfoGroups(cctx, c.cfg.Stream)
	length := pipe.XLen(cctx, c.cfg.Stream)
	_, _ = pipe.Exec(cctx)
	if err := length.Err(); err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opInfo).Inc()
		return
	}
	c.m.length.WithLabelValues(c.cfg.Stream).Set(float64(length.Val()))
	gs, err := groups.Result()
	if err != nil {
		c.m.errors.WithLabelValues(c.cfg.Stream, opInfo).Inc()
		return
	}
	for _, g := range gs {
		if g.Name != c.cfg.Group {
			continue
		}
		c.m.lag.WithLabelValues(c.cfg.Stream, g.Name).Set(float64(g.Lag))
		c.m.pending.WithLabelValues(c.cfg.Stream, g.Name).Set(float64(g.Pending))
	}
}

func isNoGroup(err error) bool {
	return err != nil && strings.Contains(err.Error(), "NOGROUP")
}

// compareIDs orders stream IDs numerically (unparsable IDs sort first).
func compareIDs(a, b string) int {
	am, as, aok := parseID(a)
	bm, bs, bok := parseID(b)
	switch {
	case !aok || !bok:
		if aok == bok {
			return strings.Compare(a, b)
		}
		if !aok {
			return -1
		}
		return 1
	case am != bm:
		if am < bm {
			return -1
		}
		return 1
	case as != bs:
		if as < bs {
			return -1
		}
		return 1
	}
	return 0
}

// prevID returns the largest ID below id ("0" for the smallest), so reading
// pending entries "after prevID(id)" includes id.
func prevID(id string) string {
	ms, seq, ok := parseID(id)
	switch {
	case !ok || (ms == 0 && seq == 0):
		return "0"
	case seq > 0:
		return strconv.FormatUint(ms, 10) + "-" + strconv.FormatUint(seq-1, 10)
	}
	return strconv.FormatUint(ms-1, 10) + "-18446744073709551615"
}

// ClaimAll transfers every pending entry of the group, whoever holds it, to
// worker 0 (XAUTOCLAIM with min-idle 0 and JUSTID, so delivery counts do
// not change) and returns how many it moved. A single-writer consumer (the
// sink) calls it before Run, so that worker 0's re-read of its own pending
// entries then sees all of them in ID order, including those of a replica
// that ran under another name.
func (c *Consumer) ClaimAll(ctx context.Context) (int, error) {
	name := c.ConsumerName(0)
	start, n := "0-0", 0
	for {
		cctx, cancel := context.WithTimeout(ctx, c.cfg.CallTimeout)
		ids, next, err := c.rdb.XAutoClaimJustID(cctx, &redis.XAutoClaimArgs{
			Stream: c.cfg.Stream, Group: c.cfg.Group, Consumer: name, MinIdle: 0, Start: start, Count: 1000,
		}).Result()
		cancel()
		if err != nil {
			if isNoGroup(err) {
				return n, nil
			}
			c.m.errors.WithLabelValues(c.cfg.Stream, opClaim).Inc()
			return n, fmt.Errorf("claim pending entries of %q for %s: %w", c.cfg.Stream, name, err)
		}
		n += len(ids)
		if next == "0-0" || next == "0" {
			return n, nil
		}
		start = next
	}
}

// flatten returns a Values map as field/value pairs (values formatted as
// go-redis would send them).
func flatten(vals map[string]any) []string {
	out := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		out = append(out, k, str(v))
	}
	return out
}

// fieldsOf returns the pairs of msgs from flat, in order (nil without
// FlatFields).
func fieldsOf(flat map[string][]string, msgs []redis.XMessage) [][]string {
	if flat == nil {
		return nil
	}
	out := make([][]string, len(msgs))
	for i, m := range msgs {
		out[i] = flat[m.ID]
	}
	return out
}

// valuesOf returns entry i of b as a Values map (for dead letters).
func valuesOf(b *Batch, i int) map[string]any {
	m := b.Msgs[i]
	if m.Values != nil || b.Fields == nil {
		return m.Values
	}
	f := b.Fields[i]
	vals := make(map[string]any, len(f)/2)
	for k := 0; k+1 < len(f); k += 2 {
		vals[f[k]] = f[k+1]
	}
	return vals
}

// str formats a stream value (string, []byte or a number go-redis parsed).
func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}

// batchCount returns the COUNT of the next read of new entries.
func (w *worker) batchCount() int64 {
	if w.c.cfg.MinBatchCount <= 0 || w.c.cfg.ReadInterval > 0 {
		return w.c.cfg.BatchCount
	}
	if w.count == 0 {
		w.count = w.c.cfg.MinBatchCount
	}
	return w.count
}

// growAfter is how long reads must all have been full before the adaptive
// COUNT (ConsumerConfig.MinBatchCount) doubles.
const growAfter = 100 * time.Millisecond

// adapt sets the COUNT of the next read from how full the last ones were
// (MinBatchCount); now is when the last read returned.
func (w *worker) adapt(count int64, got int, now time.Time) {
	lo, hi := w.c.cfg.MinBatchCount, w.c.cfg.BatchCount
	if lo <= 0 || w.c.cfg.ReadInterval > 0 {
		return
	}
	w.count = count
	switch {
	case int64(got) < count:
		w.fullSince = time.Time{}
		w.count = max(count/2, lo)
	case w.fullSince.IsZero():
		w.fullSince = now
	case now.Sub(w.fullSince) >= growAfter:
		w.count = min(count*2, hi)
		w.fullSince = now
	}
}
