// Command twitchsim runs the simulated Twitch chat server (shared/twitchsim):
// IRC over WebSocket and plain TCP plus a JSON control API, and on the
// control listener a simulated Helix moderation API (base URL
// <control>/helix) and, with -mods, simulated human moderators.
//
// Stdout carries machine-readable JSON only: one line at start with the
// listen addresses and the Helix and moderator settings
// ({"ws":...,"tcp":...,"control":...,"helix":{...},"moderators":{...}}) and
// one line with the final Stats at exit. Logs (slog JSON) go to stderr.
// SIGINT/SIGTERM shut down gracefully (truth file flushed); a second signal
// exits at once.
//
// Helix is on by default with the public development credentials client id
// "streamsafe-sim" and token "sim-token" (user id
// twitchsim.BotUserID("streamsafe_bot")), printed in the start line. Real
// deployments of the pipeline point at Twitch, never at this simulator, so
// these guard nothing; -helix-token or TWITCHSIM_HELIX_TOKENS replace them,
// and tokens given that way are never printed.
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
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

// envHelixTokens holds token=userid pairs when -helix-token is not given.
const envHelixTokens = "TWITCHSIM_HELIX_TOKENS"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { <-ctx.Done(); stop() }() // a second signal kills the process
	opts, err := parseFlags(os.Args[1:], os.Getenv, os.Stderr)
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
	// devToken: cfg.Helix uses the built-in development token, which the
	// start line may print.
	devToken  bool
	redisAddr string // mod sink ("" = reversals only counted)
	modStream string
}

// tokenFlag collects -helix-token values (repeatable, each a comma list).
type tokenFlag []string

func (f *tokenFlag) String() string { return "" } // never print tokens

func (f *tokenFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// parseHelixTokens parses comma-separated token=userid pairs; an "oauth:"
// prefix of a token is dropped.
func parseHelixTokens(lists []string) (map[string]string, error) {
	out := map[string]string{}
	for _, list := range lists {
		for pair := range strings.SplitSeq(list, ",") {
			if pair = strings.TrimSpace(pair); pair == "" {
				continue
			}
			tok, id, ok := strings.Cut(pair, "=")
			tok, id = strings.TrimPrefix(strings.TrimSpace(tok), "oauth:"), strings.TrimSpace(id)
			switch {
			case !ok || tok == "" || id == "":
				return nil, errors.New("want token=userid pairs") // never echo a token
			case strings.ContainsAny(tok, " \t") || strings.ContainsAny(id, " \t"):
				return nil, errors.New("tokens and user ids must not contain spaces")
			case out[tok] != "" && out[tok] != id:
				return nil, fmt.Errorf("one token is given for user ids %s and %s", out[tok], id)
			}
			out[tok] = id
		}
	}
	return out, nil
}

func parseFlags(args []string, getenv func(string) string, errOut io.Writer) (options, error) {
	o := options{cfg: twitchsim.DefaultConfig(), drainTimeout: 30 * time.Second, modStream: stream.DefaultMod}
	c := &o.cfg
	hc, mc := twitchsim.DevHelixConfig(), twitchsim.DefaultModeratorsConfig()
	fs := flag.NewFlagSet("twitchsim", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var scenario, tokens, weights, level string
	var helixTokens tokenFlag
	var mods bool
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

	fs.StringVar(&hc.ClientID, "helix-client-id", hc.ClientID,
		"Client-Id the simulated Helix API (<control>/helix) accepts; empty disables Helix and -mods")
	fs.Var(&helixTokens, "helix-token",
		"an accepted Helix bearer `token=userid` pair (repeatable, or a comma list); replaces the dev token \""+
			twitchsim.DevHelixToken+"\" of user "+twitchsim.BotUserID(twitchsim.DevBotLogin)+" ("+twitchsim.DevBotLogin+
			"). Without it, "+envHelixTokens+" is read (keeps tokens out of ps)")
	fs.IntVar(&hc.PointsPerMinute, "helix-points-per-minute", hc.PointsPerMinute, "Helix rate-limit bucket per token user (Ratelimit-Limit)")
	fs.BoolVar(&mods, "mods", false,
		"simulate human moderators: act on abusive messages the system missed, lift its wrong timeouts and bans "+
			"(costs ~2 us CPU per message and ~300 B of memory per message of the last 2 min: ~40 MB at 1,000 msgs/s, ~2 GB at 60,000)")
	fs.Float64Var(&mc.MissShare, "mod-miss-share", mc.MissShare, "share of missed abusive messages a human moderator acts on")
	fs.DurationVar(&mc.MissDelay, "mod-miss-delay", mc.MissDelay, "a message is missed when the system has not acted on it this long after it was sent")
	fs.Float64Var(&mc.TimeoutShare, "mod-timeout-share", mc.TimeoutShare, "share of human actions that are timeouts (the rest delete the message)")
	fs.Float64Var(&mc.ReverseShare, "mod-reverse-share", mc.ReverseShare, "share of the system's wrong timeouts/bans a human lifts")
	fs.DurationVar(&mc.ReverseDelay, "mod-reverse-delay", mc.ReverseDelay, "delay between a wrong timeout/ban and its reversal")
	fs.DurationVar(&c.ModeratorTick, "mod-tick", c.ModeratorTick, "how often the simulated moderators act")
	fs.StringVar(&o.redisAddr, "redis-addr", "", "with -mods, XADD unban/untimeout events of reversals to this Redis (empty: only counted)")
	fs.StringVar(&o.modStream, "mod-stream", o.modStream, "with -redis-addr, the mod stream key")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("parse flags: unexpected arguments %q", fs.Args())
	}
	if err := o.setModeration(fs, hc, mc, helixTokens, mods, getenv); err != nil {
		return o, err
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

// setModeration fills cfg.Helix and cfg.Moderators from the flags.
func (o *options) setModeration(fs *flag.FlagSet, hc twitchsim.HelixConfig, mc twitchsim.ModeratorsConfig, helixTokens tokenFlag, mods bool, getenv func(string) string) error {
	c := &o.cfg
	if !mods {
		var stray []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "mod-") || f.Name == "redis-addr" {
				stray = append(stray, "-"+f.Name)
			}
		})
		if len(stray) > 0 {
			return fmt.Errorf("parse flags: %s need -mods", strings.Join(stray, ", "))
		}
	}
	if hc.ClientID == "" {
		if mods {
			return errors.New("parse flags: -mods needs Helix (-helix-client-id is empty)")
		}
		return nil
	}
	src, lists := "-helix-token", []string(helixTokens)
	if len(lists) == 0 {
		if v := getenv(envHelixTokens); strings.TrimSpace(v) != "" {
			src, lists = envHelixTokens, []string{v}
		}
	}
	if len(lists) > 0 {
		toks, err := parseHelixTokens(lists)
		if err != nil {
			return fmt.Errorf("parse %s: %w", src, err)
		}
		if len(toks) == 0 {
			return fmt.Errorf("parse %s: no token=userid pair", src)
		}
		hc.Tokens = toks
	} else {
		o.devToken = true
	}
	hc.Seed = c.Seed
	c.Helix = &hc
	if mods {
		mc.Seed = c.Seed
		c.Moderators = &mc
	}
	return nil
}

// startLine is the first stdout line.
type startLine struct {
	WS         string     `json:"ws"`
	TCP        string     `json:"tcp"`
	Control    string     `json:"control"`
	Helix      *helixInfo `json:"helix,omitempty"`
	Moderators *modsInfo  `json:"moderators,omitempty"`
}

// helixInfo describes the Helix API; tokens are printed only when they are
// the built-in development token.
type helixInfo struct {
	BaseURL         string      `json:"base_url"`
	ClientID        string      `json:"client_id"`
	PointsPerMinute int         `json:"points_per_minute"`
	Users           []helixUser `json:"users"`
}

type helixUser struct {
	UserID string `json:"user_id"`
	Login  string `json:"login,omitempty"` // the dev token's user
	Token  string `json:"token,omitempty"` // the dev token only
}

type modsInfo struct {
	MissShare    float64 `json:"miss_share"`
	MissDelay    string  `json:"miss_delay"`
	TimeoutShare float64 `json:"timeout_share"`
	ReverseShare float64 `json:"reverse_share"`
	ReverseDelay string  `json:"reverse_delay"`
	Tick         string  `json:"tick"`
	RedisAddr    string  `json:"redis_addr"` // "" = reversals only counted
	Stream       string  `json:"stream,omitempty"`
}

func (o *options) startLine(srv *twitchsim.Server) startLine {
	l := startLine{WS: srv.WSURL(), TCP: srv.TCPAddr(), Control: srv.ControlURL()}
	cfg := srv.Config()
	if h := cfg.Helix; h != nil {
		hi := &helixInfo{ClientID: h.ClientID, PointsPerMinute: h.PointsPerMinute}
		if l.Control != "" {
			hi.BaseURL = l.Control + "/helix"
		}
		for tok, id := range h.Tokens {
			u := helixUser{UserID: id}
			if o.devToken {
				u.Token, u.Login = tok, twitchsim.DevBotLogin
			}
			hi.Users = append(hi.Users, u)
		}
		slices.SortFunc(hi.Users, func(a, b helixUser) int { return strings.Compare(a.UserID, b.UserID) })
		l.Helix = hi
	}
	if m := cfg.Moderators; m != nil {
		l.Moderators = &modsInfo{
			MissShare: m.MissShare, MissDelay: m.MissDelay.String(), TimeoutShare: m.TimeoutShare,
			ReverseShare: m.ReverseShare, ReverseDelay: m.ReverseDelay.String(), Tick: cfg.ModeratorTick.String(),
			RedisAddr: o.redisAddr,
		}
		if o.redisAddr != "" {
			l.Moderators.Stream = o.modStream
		}
	}
	return l
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: o.logLevel})).With("service", "twitchsim")
	o.cfg.Logger = log.With("component", "server")
	if o.cfg.Helix != nil {
		hc := *o.cfg.Helix
		hc.Logger = log.With("component", "helix")
		o.cfg.Helix = &hc
	}
	if o.cfg.Moderators != nil {
		mc := *o.cfg.Moderators
		mc.Logger = log.With("component", "moderators")
		o.cfg.Moderators = &mc
		if o.redisAddr != "" {
			sink := twitchsim.NewRedisModSink(o.redisAddr, o.modStream)
			defer sink.Close()
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := sink.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("connect mod sink %s: %w", o.redisAddr, err)
			}
			o.cfg.ModSink = sink
		}
	}
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

	addr := o.startLine(srv)
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
		"tokens", len(eff.Tokens), "truth_file", eff.TruthFile, "wait_join", eff.WaitForJoin,
		"helix", eff.Helix != nil, "moderators", eff.Moderators != nil, "mod_sink", o.redisAddr)

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
