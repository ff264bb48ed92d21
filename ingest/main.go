// Command ingest reads Twitch chat over IRC (WebSocket or TCP) and publishes
// chat messages to the chat stream and moderation events (CLEARCHAT,
// CLEARMSG, raids, ROOMSTATE) to the mod stream on Redis, with a per-channel
// rate limit shared through Redis, bounded queues (a slow Redis stops the
// reader instead of growing memory), gap-free reconnects and Prometheus
// metrics that account for every line read.
//
// Usage:
//
//	ingest              run the service (configured by INGEST_* variables, see CONFIG.md)
//	ingest parse [FILE] parse IRC lines from FILE or stdin and print them as JSON
//
// Accounting (docs/metrics.md): for each kind k in chat, mod, control,
//
//	lines_received_total{k} = lines_filtered_total{k} + lines_oversize_total{k}
//	    + parse_errors_total{k} + rate_limited_total{k} + duplicates_total{k}
//	    + messages_published_total{k} + lines_dropped_total{k} + lines_in_flight{k}
//
// summed over the other labels; lines_in_flight is 0 once the pipeline is
// idle. Against a simulator that counts each generated message once as
// "sent" (even when delivered on two connections during a make-before-break
// reconnect), duplicates come on top of sent:
//
//	received{chat} - duplicates{chat} = sent - lost_on_the_wire
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/pipeline"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/ratelimit"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/twitch"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/ops"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "parse" {
		if err := runParse(os.Args[2:], os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "ingest parse:", err)
			os.Exit(1)
		}
		return
	}

	ctx := ops.SignalContext("ingest")
	cfg, err := loadConfig()
	if err == nil {
		level, _ := logging.ParseLevel(cfg.LogLevel) // validated
		err = run(ctx, cfg, logging.New(os.Stdout, level).With(logging.KeyService, "ingest"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

// redisProbeInterval is how often the readiness probe pings Redis.
const redisProbeInterval = 2 * time.Second

// Readiness conditions.
const (
	readyTwitch = "twitch" // a logged-in Twitch connection
	readyRedis  = "redis"  // the last Redis PING succeeded
)

// run wires the service and runs it until ctx is done (then drains the
// queues into Redis within cfg.ShutdownTimeout and returns nil) or a
// component fails (an authentication failure is returned as an error).
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	s, err := newService(cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	return s.run(ctx)
}

// service is the wired ingest service: every component, constructed in
// dependency order by newService and run by run.
type service struct {
	cfg   Config
	log   *slog.Logger
	m     *metrics.Metrics
	ready *ops.Readiness
	srv   *ops.Server
	rdb   *redis.Client

	client  *twitch.Client
	parser  *pipeline.Parser
	limiter *pipeline.Limiter
	writer  *pipeline.Writer
}

func newService(cfg Config, log *slog.Logger) (*service, error) {
	log.Info("starting", slog.Any("config", cfg))
	s := &service{cfg: cfg, log: log}

	reg := ops.NewRegistry()
	s.m = metrics.New(reg)
	s.ready = ops.NewReadiness(readyTwitch, readyRedis)
	h := ops.Handler(reg, s.ready)
	if cfg.Pprof {
		h = ops.WithPprof(h)
	}
	srv, err := ops.Listen(cfg.HTTPAddr, h)
	if err != nil {
		return nil, err
	}
	s.srv = srv

	s.rdb = redis.NewClient(cfg.Redis.Options())
	var rl pipeline.RateLimiter
	if cfg.RateLimit > 0 {
		lim := ratelimit.PerSecond(cfg.RateLimit, cfg.RateLimitBurst)
		l, err := ratelimit.New(s.rdb, cfg.RateLimitKey, lim)
		if err != nil {
			s.close()
			return nil, fmt.Errorf("create rate limiter: %w", err)
		}
		rl = l
		if lease := ratelimit.LeaseTokens(lim, cfg.RateLimitLease); lease > 0 {
			rl = ratelimit.NewLeased(l, lease)
		}
	}

	// Bounded queues between the stages; their depth is exported.
	lines := make(chan *twitch.Batch, cfg.QueueLines)
	events := make(chan *pipeline.Events, cfg.QueueEvents)
	publish := make(chan *pipeline.Events, cfg.QueuePublish)
	s.m.Queue("lines", func() int { return len(lines) }, cap(lines))
	s.m.Queue("events", func() int { return len(events) }, cap(events))
	s.m.Queue("publish", func() int { return len(publish) }, cap(publish))

	s.client, err = twitch.New(twitch.Config{
		URL:            cfg.TwitchURL,
		Token:          cfg.TwitchToken.Reveal(),
		Nick:           cfg.TwitchNick,
		Channels:       cfg.Channels,
		MaxLineBytes:   cfg.MaxLineBytes,
		DialTimeout:    cfg.DialTimeout,
		LoginTimeout:   cfg.LoginTimeout,
		IdlePing:       cfg.IdlePing,
		PongTimeout:    cfg.PongTimeout,
		BackoffBase:    cfg.BackoffBase,
		BackoffMax:     cfg.BackoffMax,
		JoinLimit:      cfg.JoinLimit,
		JoinWindow:     cfg.JoinWindow,
		OverlapTimeout: cfg.OverlapTimeout,
		OverlapDrain:   cfg.OverlapDrain,
		DrainTimeout:   cfg.ShutdownTimeout,
		SetConnected:   func(ok bool) { s.ready.Set(readyTwitch, ok) },
		Logger:         log.With(logging.KeyComponent, "twitch"),
	}, lines, s.m)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("create twitch client: %w", err)
	}
	s.parser = pipeline.NewParser(pipeline.ParserConfig{
		MaxLineBytes:   cfg.MaxLineBytes,
		DedupeCapacity: cfg.DedupeCapacity,
		Logger:         log.With(logging.KeyComponent, "parser"),
	}, lines, events, s.m)
	s.limiter = pipeline.NewLimiter(rl, cfg.RateLimitTimeout, events, publish, s.m, log.With(logging.KeyComponent, "ratelimit"))
	s.writer = pipeline.NewWriter(pipeline.WriterConfig{
		ChatStream:    cfg.Chat,
		ModStream:     cfg.Mod,
		ChatMaxLen:    cfg.ChatMaxLen,
		ModMaxLen:     cfg.ModMaxLen,
		BatchSize:     cfg.BatchSize,
		FlushInterval: cfg.FlushInterval,
		RetryBase:     cfg.RetryBase,
		RetryMax:      cfg.RetryMax,
		Logger:        log.With(logging.KeyComponent, "writer"),
	}, s.rdb.Options(), publish, s.m)
	return s, nil
}

// close releases what newService opened and run does not close.
func (s *service) close() { _ = s.rdb.Close() }

// run runs every component until ctx is done and the queues are drained,
// or until one fails.
func (s *service) run(ctx context.Context) error {
	cfg, log := s.cfg, s.log
	if a := s.srv.Addr(); a != "" {
		log.Info("serving /metrics, /health, /ready", slog.String(logging.KeyAddr, a))
	}
	// The stages stop when their input closes, in pipeline order, after the
	// client stops reading. drainCtx is their deadline: it ends
	// ShutdownTimeout after shutdown began; whatever is still queued then
	// is dropped and counted.
	g, gctx := errgroup.WithContext(ctx)
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	stopDrainTimer := context.AfterFunc(gctx, func() {
		log.Info("shutting down: draining queues", slog.String("timeout", cfg.ShutdownTimeout.String()))
		time.AfterFunc(cfg.ShutdownTimeout, cancelDrain)
	})
	defer stopDrainTimer()
	// The ops server outlives the drain so the final counters stay
	// scrapeable until the pipeline is empty.
	opsCtx, stopOps := context.WithCancel(context.WithoutCancel(ctx))
	defer stopOps()

	g.Go(func() error { return s.client.Run(gctx) })
	g.Go(func() error { return s.parser.Run(drainCtx) })
	g.Go(func() error { return s.limiter.Run(drainCtx) })
	g.Go(func() error {
		defer stopOps()
		return s.writer.Run(drainCtx)
	})
	g.Go(func() error { return s.srv.Serve(opsCtx, 2*time.Second) })
	g.Go(func() error {
		probeRedis(gctx, s.rdb, func(ok bool) { s.ready.Set(readyRedis, ok) })
		return nil
	})
	err := g.Wait()

	attrs := make([]any, 0, metrics.NumKinds)
	for k := range metrics.NumKinds {
		a := s.m.Accounts(k)
		attrs = append(attrs, slog.Group(k.String(),
			slog.Float64("received", a.Received), slog.Float64("published", a.Published),
			slog.Float64("filtered", a.Filtered), slog.Float64("dropped", a.Dropped),
			slog.Float64("unaccounted", a.Balance())))
	}
	log.Info("stopped", attrs...)
	return err
}

// probeRedis PINGs Redis every redisProbeInterval and reports the result
// until ctx is done, so /ready never does I/O itself.
func probeRedis(ctx context.Context, rdb redis.UniversalClient, set func(ok bool)) {
	t := time.NewTicker(redisProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := rdb.Ping(pctx).Err()
		cancel()
		set(err == nil)
		select {
		case <-ctx.Done():
			set(false)
			return
		case <-t.C:
		}
	}
}
