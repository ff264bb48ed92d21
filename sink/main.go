// Command sink writes the decision log, the moderator events and the
// execution results from their Redis streams to Parquet files, exactly once:
// one consumer group per stream, rows buffered in memory, files written to a
// temporary name, closed, fsynced, renamed and their directory fsynced
// before the entries are acknowledged. A restart removes temporary files and
// skips entries already committed; entries that do not decode or validate
// go to the dead-letter stream.
//
// Usage:
//
//	sink                      run the service (SINK_* variables, see CONFIG.md)
//	sink verify [-json] DIR   check every file under DIR and print a summary
//
// verify exits 1 when a file is unreadable, has the wrong metadata, a row
// count or ID range that does not match its name, or an ID range
// overlapping another file of the same stream.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/ops"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
	"github.com/streamsafe-rl/streamsafe/sink/internal/lease"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
	"github.com/streamsafe-rl/streamsafe/sink/internal/sinker"
)

// writerName goes into every file's footer.
const writerName = "sink/1"

func main() {
	ctx := ops.SignalContext("sink")
	var err error
	cmd := "sink"
	switch {
	case len(os.Args) > 1 && os.Args[1] == "verify":
		cmd = "sink verify"
		err = runVerify(os.Args[2:], os.Stdout)
	case len(os.Args) > 1:
		err = fmt.Errorf("unknown command %q (want no argument or verify)", os.Args[1])
	default:
		var cfg Config
		cfg, err = loadConfig()
		if err == nil {
			level, _ := logging.ParseLevel(cfg.LogLevel) // validated
			err = run(ctx, cfg, logging.New(os.Stdout, level).With(logging.KeyService, "sink"))
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// dataset is one stream being sunk.
type dataset struct {
	name     string
	consumer *stream.Consumer
	run      func(ctx context.Context)       // the sinker's tick loop
	close    func(ctx context.Context) error // final commit
	abort    func()                          // drop the buffer (lease lost)
}

// run wires the service and runs it until ctx is done; then the consumers
// finish their in-flight batch and the buffered rows are committed and
// acknowledged within cfg.ShutdownTimeout.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.Info("starting", slog.Any("config", cfg))
	names, _ := cfg.datasets() // validated

	reg := ops.NewRegistry()
	conds := make([]string, len(names))
	for i, n := range names {
		conds[i] = n + "_stream"
	}
	ready := ops.NewReadiness(conds...)
	srv, err := ops.Listen(cfg.HTTPAddr, ops.Handler(reg, ready))
	if err != nil {
		return err
	}
	if a := srv.Addr(); a != "" {
		log.Info("serving /metrics, /health, /ready", slog.String(logging.KeyAddr, a))
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return fmt.Errorf("create data directory: %w", err)
	}

	bus := redis.NewClient(cfg.busOptions())
	defer bus.Close()

	// One writer per group: wait for the lease before touching the files
	// or claiming entries.
	ls, err := lease.New(bus, cfg.leaseKey(), cfg.ConsumerName, cfg.LeaseTTL, log.With(logging.KeyComponent, "lease"))
	if err != nil {
		return err
	}
	if err := ls.Acquire(ctx); err != nil {
		return err
	}
	log.Info("holding the single-writer lease", slog.String("lease", cfg.leaseKey()))

	m := sinker.NewMetrics(reg)
	cm := stream.NewConsumerMetrics(reg, sinker.Namespace)
	var sets []*dataset
	for _, n := range names {
		var d *dataset
		var err error
		setReady := func(ok bool) { ready.Set(n+"_stream", ok) }
		l := log.With(logging.KeyStream, n)
		switch n {
		case dsDecisions:
			d, err = newDataset(ctx, cfg, n, "decision", bus, sinker.DecodeDecision, setReady, l, m, cm)
		case dsMod:
			d, err = newDataset(ctx, cfg, n, "mod", bus, sinker.DecodeMod, setReady, l, m, cm)
		default:
			d, err = newDataset(ctx, cfg, n, "execution", bus, sinker.DecodeExecution, setReady, l, m, cm)
		}
		if err != nil {
			return err
		}
		sets = append(sets, d)
	}

	g, gctx := errgroup.WithContext(ctx)
	for _, d := range sets {
		g.Go(func() error { return d.consumer.Run(gctx) })
		g.Go(func() error { d.run(gctx); return nil })
	}
	g.Go(func() error { return srv.Serve(gctx, cfg.ShutdownTimeout) })
	g.Go(func() error { return ls.Hold(gctx) })
	err = g.Wait()

	if errors.Is(err, lease.ErrLost) {
		// Another sink owns the entries now: commit nothing more. The
		// buffered entries are still pending; the new holder claims them.
		for _, d := range sets {
			d.abort()
		}
		log.Error("lease lost: stopped without committing the buffered rows (they stay pending for the new holder)", logging.Err(err))
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	defer func() {
		if rerr := ls.Release(sctx); rerr != nil {
			log.Warn("lease not released; it expires after SINK_LEASE_TTL", logging.Err(rerr))
		}
	}()
	for _, d := range sets {
		if cerr := d.close(sctx); cerr != nil {
			log.Error("final commit failed; the entries stay pending and are read again at the next start",
				slog.String(logging.KeyStream, d.name), logging.Err(cerr))
			err = errors.Join(err, cerr)
		}
	}
	log.Info("stopped", logging.Err(err))
	return err
}

// newDataset recovers the dataset's directory, creates its consumer group,
// moves every pending entry of the group to this sink and returns the
// dataset ready to run.
func newDataset[T any](ctx context.Context, cfg Config, name, schema string, bus *redis.Client,
	dec sinker.Decoder[T], setReady func(bool), log *slog.Logger, m *sinker.Metrics, cm *stream.ConsumerMetrics) (*dataset, error) {
	w, err := filewriter.New[T](filewriter.Dataset{
		Dir: filepath.Join(cfg.Dir, name), Stream: name, Schema: schema, Writer: writerName,
	}, cfg.limits())
	if err != nil {
		return nil, fmt.Errorf("create %s writer: %w", name, err)
	}
	s := sinker.New(name, w, dec, log, m)
	if err := s.Recover(); err != nil {
		return nil, fmt.Errorf("recover %s: %w", name, err)
	}
	c, err := stream.NewConsumer(bus, cfg.consumerConfig(name, setReady), s, log.With(logging.KeyComponent, "consumer"), cm)
	if err != nil {
		return nil, fmt.Errorf("create %s consumer: %w", name, err)
	}
	s.SetAcker(c)
	// Until Redis answers there is nothing to sink; wait for it here so the
	// claim below runs before the first read.
	for attempt := 1; ; attempt++ {
		err = c.EnsureGroup(ctx)
		if err == nil {
			var n int
			n, err = c.ClaimAll(ctx)
			if err == nil {
				if n > 0 {
					log.Info("took over pending entries", slog.Int(logging.KeyCount, n))
				}
				break
			}
		}
		if ctx.Err() != nil {
			return nil, fmt.Errorf("start %s consumer: %w", name, ctx.Err())
		}
		log.Warn("stream bus unavailable at start, retrying", logging.Err(err), slog.Int(logging.KeyAttempt, attempt))
		select {
		case <-ctx.Done():
		case <-time.After(min(time.Duration(attempt)*200*time.Millisecond, 5*time.Second)):
		}
	}
	return &dataset{name: name, consumer: c, run: s.Run, close: s.Close, abort: s.Abort}, nil
}

// Compile-time checks that the decoders fit their row types.
var (
	_ sinker.Decoder[rows.Decision]  = sinker.DecodeDecision
	_ sinker.Decoder[rows.Mod]       = sinker.DecodeMod
	_ sinker.Decoder[rows.Execution] = sinker.DecodeExecution
)
