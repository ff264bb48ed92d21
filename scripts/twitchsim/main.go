// Command twitchsim runs the simulated Twitch chat server (shared/twitchsim):
// IRC over WebSocket and plain TCP plus a JSON control API.
//
// Stdout carries machine-readable JSON only: one line with the listen
// addresses at start ({"ws":...,"tcp":...,"control":...}) and one line with
// the final Stats at exit. Logs (slog JSON) go to stderr. SIGINT/SIGTERM
// shut down gracefully (truth file flushed); a second signal exits at once.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second signal kills the process
	opts, err := parseFlags(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	if err == nil {
		err = run(ctx, opts, os.Stdout, os.Stderr)
	}
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "twitchsim:", err)
		os.Exit(1)
	}
}

// options is everything the command line sets.
type options struct {
	cfg          twitchsim.Config
	logLevel     slog.Level
	exitWhenDone bool
	drainTimeout time.Duration
}

func parseFlags(args []string, errOut io.Writer) (options, error) {
	o := options{cfg: twitchsim.DefaultConfig(), drainTimeout: 30 * time.Second}
	c := &o.cfg
	fs := flag.NewFlagSet("twitchsim", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var scenario, tokens, weights, level string
	fs.StringVar(&c.WSAddr, "ws", c.WSAddr, "WebSocket listen address (empty disables)")
	fs.StringVar(&c.TCPAddr, "tcp", c.TCPAddr, "plain IRC listen address (empty disables)")
	fs.StringVar(&c.ControlAddr, "control", c.ControlAddr, "control/stats HTTP listen address (empty disables)")
	fs.Float64Var(&c.Rate, "rate", c.Rate, "total PRIVMSGs per second across all channels")
	fs.IntVar(&c.Channels, "channels", c.Channels, "number of channels #simchan0..N-1")
	fs.DurationVar(&c.Duration, "duration", 0, "stop generating after this long (0 = no limit)")
	fs.Int64Var(&c.Count, "count", 0, "stop generating after exactly this many PRIVMSGs (0 = no limit)")
	fs.Uint64Var(&c.Seed, "seed", c.Seed, "seed of the deterministic message sequence")
	fs.StringVar(&scenario, "scenario", string(twitchsim.ScenarioSteady), "steady, raid or reconnect")
	fs.DurationVar(&c.ReconnectEvery, "reconnect-every", 0, "send RECONNECT to all connections this often (0 = scenario default)")
	fs.DurationVar(&c.ReconnectGrace, "reconnect-grace", c.ReconnectGrace, "keep delivering this long after RECONNECT before closing")
	fs.DurationVar(&c.RaidEvery, "raid-every", 0, "start a raid on a random channel this often (0 = scenario default)")
	fs.DurationVar(&c.RaidDuration, "raid-duration", c.RaidDuration, "length of a raid burst")
	fs.Float64Var(&c.RaidMultiplier, "raid-multiplier", c.RaidMultiplier, "raid channel rate multiplier")
	fs.IntVar(&c.RaidViewers, "raid-viewers", c.RaidViewers, "raiders per raid (msg-param-viewerCount)")
	fs.Float64Var(&c.RaidHostileFraction, "raid-hostile", c.RaidHostileFraction, "fraction of raid messages that are spam/bot/abuse")
	fs.StringVar(&c.TruthFile, "truth-file", "", "write one JSON line of ground truth per generated PRIVMSG here")
	fs.StringVar(&tokens, "tokens", "", "comma-separated accepted OAuth tokens without 'oauth:' (empty accepts any)")
	fs.StringVar(&weights, "weights", "", "persona weights, e.g. viewer=55,abusive=10 (others keep defaults)")
	fs.BoolVar(&c.WaitForJoin, "wait-join", false, "start generating once every channel has a joined connection")
	fs.BoolVar(&c.StartPaused, "paused", false, "start paused (POST /control/resume)")
	fs.IntVar(&c.JoinLimit, "join-limit", c.JoinLimit, "JOINs per join-window per connection (0 = unlimited)")
	fs.DurationVar(&c.JoinWindow, "join-window", c.JoinWindow, "JOIN rate-limit window")
	fs.DurationVar(&c.PingInterval, "ping-interval", c.PingInterval, "server PING interval (0 = never)")
	fs.DurationVar(&c.PongTimeout, "pong-timeout", c.PongTimeout, "close a connection that does not PONG in time")
	fs.IntVar(&c.QueueBytes, "queue-bytes", c.QueueBytes, "per-connection outbound queue limit")
	fs.DurationVar(&c.SlowTimeout, "slow-timeout", c.SlowTimeout, "drop a connection whose queue stays full this long")
	fs.IntVar(&c.MaxFrameBytes, "max-frame-bytes", c.MaxFrameBytes, "WebSocket frame size cap for packed lines")
	fs.DurationVar(&c.Tick, "tick", c.Tick, "pacing interval")
	fs.Float64Var(&c.ReplyFraction, "reply-fraction", c.ReplyFraction, "fraction of benign messages that are replies")
	fs.Float64Var(&c.ActionFraction, "action-fraction", c.ActionFraction, "fraction of benign messages that are /me ACTIONs")
	fs.BoolVar(&c.BotIsMod, "bot-is-mod", c.BotIsMod, "USERSTATE reports mod=1 to logged-in clients")
	fs.IntVar(&c.RecentMessages, "recent", c.RecentMessages, "recent messages kept for lookup/CLEARMSG")
	fs.StringVar(&level, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.exitWhenDone, "exit-when-done", false, "exit once generation ended and all queues drained")
	fs.DurationVar(&o.drainTimeout, "drain-timeout", o.drainTimeout, "with -exit-when-done, longest wait for queues to drain")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	c.Scenario = twitchsim.Scenario(scenario)
	for t := range strings.SplitSeq(tokens, ",") {
		if t = strings.TrimPrefix(strings.TrimSpace(t), "oauth:"); t != "" {
			c.Tokens = append(c.Tokens, t)
		}
	}
	var err error
	if c.Weights, err = twitchsim.ParseWeights(c.Weights, weights); err != nil {
		return o, fmt.Errorf("parse -weights: %w", err)
	}
	if err := o.logLevel.UnmarshalText([]byte(level)); err != nil {
		return o, fmt.Errorf("parse -log-level %q: %w", level, err)
	}
	return o, c.Validate()
}

// addresses is the first stdout line.
type addresses struct {
	WS      string `json:"ws"`
	TCP     string `json:"tcp"`
	Control string `json:"control"`
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})).With("service", "twitchsim")
	o.cfg.Logger = log.With("component", "server")
	srv, err := twitchsim.New(o.cfg)
	if err != nil {
		return fmt.Errorf("create simulator: %w", err)
	}
	ls, err := srv.Listen()
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ls) }()

	addr := addresses{WS: srv.WSURL(), TCP: srv.TCPAddr(), Control: srv.ControlURL()}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(addr); err != nil {
		cancel()
		<-served
		return fmt.Errorf("print addresses: %w", err)
	}
	eff := srv.Config()
	log.Info("twitchsim listening", "ws", addr.WS, "tcp", addr.TCP, "control", addr.Control,
		"rate", eff.Rate, "channels", eff.Channels, "count", eff.Count, "duration", eff.Duration, "seed", eff.Seed,
		"scenario", eff.Scenario, "raid_every", eff.RaidEvery, "reconnect_every", eff.ReconnectEvery,
		"tokens", len(eff.Tokens), "truth_file", eff.TruthFile, "wait_join", eff.WaitForJoin)

	if o.exitWhenDone {
		go func() {
			select {
			case <-srv.GenerationDone():
			case <-ctx.Done():
				return
			}
			deadline := time.Now().Add(o.drainTimeout)
			for srv.Stats().Inflight > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
				time.Sleep(20 * time.Millisecond)
			}
			log.Info("generation done, exiting")
			cancel()
		}()
	}
	err = <-served
	st := srv.Stats()
	st.Conns = nil // connections are closed by now
	if eerr := enc.Encode(st); eerr != nil && err == nil {
		err = fmt.Errorf("print stats: %w", eerr)
	}
	log.Info("twitchsim stopped", "generated", st.Generated, "sent", st.Sent, "undelivered", st.Undelivered,
		"dropped", st.Dropped, "dropped_slow", st.DroppedSlow)
	return err
}
