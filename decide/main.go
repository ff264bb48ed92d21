// Command decide consumes the chat stream with a consumer group and writes
// exactly one decision per chat message to the decisions stream: message
// features, one feature-store round trip per batch, a versioned risk policy,
// the safety clamp and optional epsilon exploration, with non-IGNORE actions
// handed to the asynchronous executor (Helix, or dry-run without
// credentials). Decisions and the acks of their inputs are written in one
// MULTI/EXEC. A second consumer group on the mod stream feeds human
// moderator actions and raids into the feature store.
//
// Usage:
//
//	decide                                              run the service (DECIDE_* variables, see CONFIG.md)
//	decide replay [--from ID] [--to ID] [--count N] [--file F]
//	                                                    recompute logged decisions, report mismatches
//	decide clamp                                        clamp JSON lines from stdin to stdout
//
// replay reads the decisions stream (or F: JSON lines of decision fields),
// recomputes every decision from its logged state with the policy and clamp
// files of the current configuration, prints each mismatch and a summary
// ("checked N matched M mismatched K") and exits 1 when anything differs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/errgroup"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/decider"
	"github.com/streamsafe-rl/streamsafe/decide/internal/executor"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/decide/internal/replay"
	"github.com/streamsafe-rl/streamsafe/decide/internal/risk"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/ops"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

func main() {
	// The first SIGINT/SIGTERM starts a graceful shutdown; a second one
	// exits at once.
	ctx := ops.SignalContext("decide")

	var err error
	cmd := "decide"
	switch {
	case len(os.Args) > 1 && os.Args[1] == "replay":
		cmd = "decide replay"
		err = runReplay(ctx, os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "clamp":
		cmd = "decide clamp"
		err = runClamp(os.Stdin, os.Stdout)
	case len(os.Args) > 1:
		err = fmt.Errorf("unknown command %q (want no argument, replay or clamp)", os.Args[1])
	default:
		var cfg Config
		cfg, err = loadConfig()
		if err == nil {
			level, _ := logging.ParseLevel(cfg.LogLevel) // validated
			err = run(ctx, cfg, logging.New(os.Stdout, level).With(logging.KeyService, "decide"))
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", cmd, err)
		os.Exit(1)
	}
}

// Readiness conditions.
const (
	readyChat  = "chat_stream"   // the last chat-stream read succeeded
	readyMod   = "mod_stream"    // the last mod-stream read succeeded
	readyStore = "feature_store" // the last feature-store PING succeeded (decisions fail open while it is down)
)

// storeProbeInterval is how often the feature store is pinged for /ready.
const storeProbeInterval = 2 * time.Second

// run wires the service and runs it until ctx is done; then it finishes the
// in-flight batches (their MULTI/EXEC included), drains the executor queue
// within cfg.ShutdownTimeout and returns nil.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	log.Info("starting", slog.Any("config", cfg))

	reg := ops.NewRegistry()
	ready := ops.NewReadiness(readyChat, readyMod, readyStore)
	h := ops.Handler(reg, ready)
	if cfg.Pprof {
		h = ops.WithPprof(h)
	}
	srv, err := ops.Listen(cfg.HTTPAddr, h)
	if err != nil {
		return err
	}
	if a := srv.Addr(); a != "" {
		log.Info("serving /metrics, /health, /ready", slog.String(logging.KeyAddr, a))
	}

	pol, err := risk.Load(cfg.PolicyFile)
	if err != nil {
		return err
	}
	clampCfg, err := loadClampConfig(cfg.ClampFile)
	if err != nil {
		return err
	}
	core, err := newCore(pol, clampCfg, cfg.ExploreEpsilon)
	if err != nil {
		return err
	}
	log.Info("policy loaded", slog.String("policy_version", pol.Version()), slog.String("policy_sha256", pol.Digest()),
		slog.String("clamp_version", core.ClampVersion), slog.Float64("explore_epsilon", cfg.ExploreEpsilon))
	for _, w := range cfg.Warnings() {
		log.Warn("questionable config", slog.String("detail", w))
	}

	bus := redis.NewClient(cfg.busOptions())
	defer bus.Close()
	if err := checkDecisionsKey(ctx, bus, cfg.Keys.Decisions, cfg.CallTimeout); err != nil {
		return err
	}
	fs := redis.NewClient(cfg.storeOptions())
	defer fs.Close()
	store, err := featurestore.New(fs, cfg.storeConfig())
	if err != nil {
		return fmt.Errorf("create feature store: %w", err)
	}
	if err := store.Load(ctx); err != nil {
		// Not fatal: decisions fail open until the store is back, and the
		// scripts are sent again (EVAL) when EVALSHA finds them missing.
		log.Warn("feature store unavailable at start", logging.Err(err))
	}

	exec, err := executor.New(cfg.Config, bus, reg, log.With(logging.KeyComponent, "executor"))
	if err != nil {
		return fmt.Errorf("create executor: %w", err)
	}
	log.Info("executor started", slog.String("executor", cfg.Config.String()))
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := exec.Close(sctx); err != nil {
			log.Warn("executor did not drain", logging.Err(err))
		}
	}()

	m := decider.NewMetrics(reg)
	dec, err := decider.New(decider.Config{
		DecisionsStream: cfg.Keys.Decisions, DecisionsMaxLen: cfg.DecisionsMaxLen,
		Budget: cfg.Budget, WriteTimeout: cfg.CallTimeout, StoreConcurrency: cfg.FeatureConcurrency,
	}, decider.Deps{
		Core: core, Store: store, Bus: cfg.busOptions(), Executor: exec, Allow: pol.AllowList(), Terms: pol.Terms(),
		Log: log.With(logging.KeyComponent, "decider"), Metrics: m,
	})
	if err != nil {
		return err
	}
	defer dec.Close()
	cm := stream.NewConsumerMetrics(reg, decider.Namespace)
	chatCfg := cfg.consumerConfig(cfg.Keys.Chat, cfg.Group, cfg.Workers, func(ok bool) { ready.Set(readyChat, ok) })
	// The chat stream is the volume: read it with the consumer's own RESP
	// reader into flat fields (the decider decodes those).
	chatCfg.FastReads, chatCfg.FlatFields = true, true
	chatCfg.MinBatchCount = min(cfg.MinBatchCount, cfg.BatchCount)
	chatCfg.ReadInterval = cfg.ReadInterval
	chat, err := stream.NewConsumer(bus, chatCfg, dec, log.With(logging.KeyComponent, "chat_consumer"), cm)
	if err != nil {
		return fmt.Errorf("create chat consumer: %w", err)
	}
	mod, err := stream.NewConsumer(bus, cfg.consumerConfig(cfg.Keys.Mod, cfg.ModGroup, cfg.ModWorkers,
		func(ok bool) { ready.Set(readyMod, ok) }), decider.NewModHandler(store, log.With(logging.KeyComponent, "mod"), m),
		log.With(logging.KeyComponent, "mod_consumer"), cm)
	if err != nil {
		return fmt.Errorf("create mod consumer: %w", err)
	}

	// Executed actions are recorded in the feature store in the background
	// until the chat consumer has stopped (its last batches included).
	sysCtx, stopSys := context.WithCancel(context.WithoutCancel(ctx))
	sysDone := make(chan struct{})
	go func() { dec.RunSys(sysCtx, cfg.ShutdownTimeout); close(sysDone) }()
	defer func() { stopSys(); <-sysDone }()

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { defer stopSys(); return chat.Run(gctx) })
	g.Go(func() error { return mod.Run(gctx) })
	g.Go(func() error { return srv.Serve(gctx, cfg.ShutdownTimeout) })
	g.Go(func() error {
		probeStore(gctx, fs, cfg.FeatureTimeout, func(ok bool) { ready.Set(readyStore, ok) })
		return nil
	})
	err = g.Wait()
	log.Info("stopped", logging.Err(err))
	return err
}

// newCore builds the decision core from the policy, clamp limits and epsilon.
func newCore(pol decider.Policy, clampCfg clamp.Config, eps float64) (*decider.Core, error) {
	cl, err := clamp.New(clampCfg.Global, clampCfg.Channels)
	if err != nil {
		return nil, fmt.Errorf("create clamp: %w", err)
	}
	ex, err := clamp.NewExplorer(eps)
	if err != nil {
		return nil, err
	}
	v, err := decider.ClampVersion(clampCfg)
	if err != nil {
		return nil, err
	}
	return &decider.Core{Policy: pol, Clamp: cl, Explorer: ex, ClampVersion: v}, nil
}

// checkDecisionsKey refuses to start when the decisions key holds something
// other than a stream: inside MULTI/EXEC the XADDs would fail while the
// XACKs succeed, losing decisions. An unreachable bus is not an error here
// (the consumers wait for it).
func checkDecisionsKey(ctx context.Context, bus *redis.Client, key string, timeout time.Duration) error {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t, err := bus.Type(cctx, key).Result()
	if err != nil {
		return nil
	}
	if t != "stream" && t != "none" {
		return fmt.Errorf("check decisions stream %q: key holds a %s, want a stream", key, t)
	}
	return nil
}

// probeStore pings the feature store every storeProbeInterval for /ready.
func probeStore(ctx context.Context, fs *redis.Client, timeout time.Duration, set func(bool)) {
	t := time.NewTicker(storeProbeInterval)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, max(timeout, 100*time.Millisecond))
		set(fs.Ping(pctx).Err() == nil)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// errMismatch is returned by runReplay when a decision did not reproduce.
var errMismatch = errors.New("decisions did not reproduce")

// runReplay implements `decide replay`.
func runReplay(ctx context.Context, args []string, stdout io.Writer) error {
	fl := flag.NewFlagSet("decide replay", flag.ContinueOnError)
	from := fl.String("from", "-", "first decisions-stream entry ID (inclusive)")
	to := fl.String("to", "+", "last decisions-stream entry ID (inclusive)")
	count := fl.Int64("count", 0, "check at most this many decisions (0 = all)")
	file := fl.String("file", "", "read decisions from this JSON-lines file instead of the stream")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if fl.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fl.Args())
	}
	cfg, err := loadConfig()
	if err != nil {
		return err
	}
	pol, err := risk.Load(cfg.PolicyFile)
	if err != nil {
		return err
	}
	clampCfg, err := loadClampConfig(cfg.ClampFile)
	if err != nil {
		return err
	}
	r, err := replay.New(pol, clampCfg)
	if err != nil {
		return err
	}
	var src replay.Source
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return fmt.Errorf("open decisions file: %w", err)
		}
		defer f.Close()
		src = replay.NewFileSource(f)
		if *count > 0 {
			src = &limited{Source: src, left: *count}
		}
	} else {
		bus := redis.NewClient(cfg.busOptions())
		defer bus.Close()
		src = replay.NewStreamSource(bus, cfg.Keys.Decisions, *from, *to, *count)
	}
	s, err := replay.Run(ctx, src, r, stdout)
	if err != nil {
		return err
	}
	if s.Mismatched > 0 {
		return fmt.Errorf("%d of %d %w", s.Mismatched, s.Checked, errMismatch)
	}
	return nil
}

// limited stops a Source after left entries.
type limited struct {
	replay.Source
	left int64
}

func (l *limited) Next(ctx context.Context) (replay.Entry, error) {
	if l.left <= 0 {
		return replay.Entry{}, io.EOF
	}
	l.left--
	return l.Source.Next(ctx)
}

// runClamp implements `decide clamp`: JSON lines through the clamp
// configured by DECIDE_CLAMP_FILE (see clamp.Stream for the format).
func runClamp(stdin io.Reader, stdout io.Writer) error {
	cfg, err := loadClampConfig(os.Getenv(envPrefix + "_CLAMP_FILE"))
	if err != nil {
		return err
	}
	c, err := clamp.New(cfg.Global, cfg.Channels)
	if err != nil {
		return fmt.Errorf("create clamp: %w", err)
	}
	return clamp.Stream(c, stdin, stdout)
}
