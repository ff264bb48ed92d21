package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/twitch"
	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// envPrefix prefixes every variable of Config that has no explicit name.
const envPrefix = "INGEST"

// Config is the whole configuration of the ingest service, read from the
// environment (see CONFIG.md). Fields with an `envconfig` tag are read from
// INGEST_<NAME> and fall back to the bare <NAME> (shared by all services);
// the others are INGEST_<SPLIT_NAME> only.
type Config struct {
	config.Redis
	stream.Keys

	TwitchURL       string        `split_words:"true" default:"wss://irc-ws.chat.twitch.tv:443" desc:"Twitch chat server: ws://, wss://, irc://host:port (TCP) or ircs://host:port (TLS)"`
	TwitchToken     config.Secret `envconfig:"TWITCH_TOKEN" desc:"OAuth user token (chat:read), with or without the oauth: prefix; empty = anonymous read-only login"`
	TwitchTokenFile string        `envconfig:"TWITCH_TOKEN_FILE" desc:"file holding the token (used when TWITCH_TOKEN is empty)"`
	TwitchNick      string        `envconfig:"TWITCH_NICK" desc:"login of the token's account (required with a token); anonymous logins use justinfan<digits>"`
	Channels        []string      `required:"true" desc:"comma-separated channel logins to join (with or without #)"`

	HTTPAddr string `split_words:"true" default:"127.0.0.1:9101" desc:"listen address of /metrics, /health, /ready (empty disables)"`
	Pprof    bool   `default:"false" desc:"also serve Go's profiles on INGEST_HTTP_ADDR under /debug/pprof/ (for load tests; they reveal internals)"`
	LogLevel string `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`

	MaxLineBytes int `split_words:"true" default:"8192" desc:"longest IRC line accepted; longer lines are counted and dropped"`
	QueueLines   int `split_words:"true" default:"64" desc:"capacity, in batches of up to 128 lines, of the queue reader -> parser"`
	QueueEvents  int `split_words:"true" default:"16" desc:"capacity, in batches of at most 639 events (512 plus one reader batch), of the queue parser -> rate limiter"`
	QueuePublish int `split_words:"true" default:"16" desc:"capacity, in batches of at most 639 events, of the queue rate limiter -> Redis writer"`

	BatchSize     int           `split_words:"true" default:"256" desc:"XADDs per pipelined Redis round trip"`
	FlushInterval time.Duration `split_words:"true" default:"5ms" desc:"longest time an event waits for its XADD batch to fill"`
	ChatMaxLen    int64         `split_words:"true" default:"1000000" desc:"approximate MAXLEN (~) of the chat stream; 0 disables trimming"`
	ModMaxLen     int64         `split_words:"true" default:"100000" desc:"approximate MAXLEN (~) of the mod stream; 0 disables trimming"`
	RetryBase     time.Duration `split_words:"true" default:"50ms" desc:"first delay bound before retrying failed XADDs (full jitter, doubling)"`
	RetryMax      time.Duration `split_words:"true" default:"2s" desc:"largest delay bound between XADD retries"`

	RateLimit        int           `split_words:"true" default:"1000" desc:"chat messages per second per channel, shared by all replicas through Redis; 0 disables"`
	RateLimitBurst   int           `split_words:"true" default:"2000" desc:"messages a channel may send at once from an idle bucket"`
	RateLimitKey     string        `split_words:"true" default:"streamsafe:ratelimit:chat" desc:"Redis hash of the per-channel limiter state (a field per channel)"`
	RateLimitTimeout time.Duration `split_words:"true" default:"1s" desc:"longest rate-limit round trip; on error or timeout the batch passes (fail open)"`
	RateLimitLease   time.Duration `split_words:"true" default:"100ms" desc:"tokens taken ahead from Redis per channel, as this much of INGEST_RATE_LIMIT (at most the burst): batches spend them without a round trip; a replica holds up to that many tokens of a channel ahead of use; 0 = a round trip per batch"`

	DialTimeout    time.Duration `split_words:"true" default:"10s" desc:"dial plus TLS/WebSocket handshake"`
	LoginTimeout   time.Duration `split_words:"true" default:"15s" desc:"longest wait for the server's welcome (001) after dialling"`
	IdlePing       time.Duration `split_words:"true" default:"15s" desc:"send PING after this long without input"`
	PongTimeout    time.Duration `split_words:"true" default:"5s" desc:"reconnect when our PING is unanswered this long"`
	BackoffBase    time.Duration `split_words:"true" default:"500ms" desc:"first reconnect delay bound (full jitter, doubling per failure)"`
	BackoffMax     time.Duration `split_words:"true" default:"30s" desc:"largest reconnect delay bound"`
	JoinLimit      int           `split_words:"true" default:"20" desc:"channel JOINs per JOIN window (Twitch: 20 per 10s, verified bots 2000)"`
	JoinWindow     time.Duration `split_words:"true" default:"10s" desc:"JOIN rate-limit window"`
	OverlapTimeout time.Duration `split_words:"true" default:"60s" desc:"on RECONNECT, longest wait for the new connection to join every channel before the old one is closed"`
	OverlapDrain   time.Duration `split_words:"true" default:"2s" desc:"on RECONNECT, how long the old connection keeps delivering after the new one joined every channel (unless the server closes it first)"`
	DedupeCapacity int           `split_words:"true" default:"262144" desc:"message ids remembered to drop duplicates delivered during a reconnect overlap"`

	ShutdownTimeout time.Duration `split_words:"true" default:"10s" desc:"on SIGTERM/SIGINT, longest time to drain the queues into Redis"`
}

// loadConfig reads and validates the configuration and resolves the token
// file.
func loadConfig() (Config, error) {
	var cfg Config
	if err := config.Load(envPrefix, &cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.TwitchToken.ResolveFile(cfg.TwitchTokenFile, "TWITCH_TOKEN_FILE"); err != nil {
		return Config{}, fmt.Errorf("load ingest config: %w", err)
	}
	return cfg, nil
}

// Validate checks every field and returns all problems, each naming its
// environment variable.
func (c *Config) Validate() error {
	errs := []error{c.Redis.Validate(), c.Keys.Validate()}
	add := func(v, format string, args ...any) { errs = append(errs, config.Errorf(v, format, args...)) }
	name := func(field string) string { return envPrefix + "_" + field }

	if u, err := url.Parse(c.TwitchURL); err != nil {
		add(name("TWITCH_URL"), "invalid url: %v", err)
	} else {
		switch strings.ToLower(u.Scheme) {
		case "ws", "wss", "irc", "ircs":
		default:
			add(name("TWITCH_URL"), "scheme %q: want ws, wss, irc or ircs", u.Scheme)
		}
		if u.Host == "" {
			add(name("TWITCH_URL"), "no host in %q", u.Redacted())
		}
	}
	if len(c.Channels) == 0 {
		add(name("CHANNELS"), "at least one channel is required")
	}
	for _, ch := range c.Channels {
		if !twitch.ValidChannel(twitch.NormalizeChannel(ch)) {
			add(name("CHANNELS"), "invalid channel %q: want 1-25 of a-z, 0-9, _", ch)
		}
	}
	hasToken := !c.TwitchToken.Empty() || c.TwitchTokenFile != ""
	switch {
	case hasToken && c.TwitchNick == "":
		add("TWITCH_NICK", "required when TWITCH_TOKEN or TWITCH_TOKEN_FILE is set")
	case c.TwitchNick != "" && !twitch.ValidChannel(strings.ToLower(c.TwitchNick)):
		add("TWITCH_NICK", "invalid login %q", c.TwitchNick)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		add("LOG_LEVEL", "%v", err)
	}

	positive := func(v string, n int) {
		if n <= 0 {
			add(name(v), "must be > 0, got %d", n)
		}
	}
	positiveDur := func(v string, d time.Duration) {
		if d <= 0 {
			add(name(v), "must be > 0, got %v", d)
		}
	}
	if c.MaxLineBytes < 512 || c.MaxLineBytes > 1<<20 {
		add(name("MAX_LINE_BYTES"), "must be between 512 and 1048576, got %d", c.MaxLineBytes)
	}
	positive("QUEUE_LINES", c.QueueLines)
	positive("QUEUE_EVENTS", c.QueueEvents)
	positive("QUEUE_PUBLISH", c.QueuePublish)
	if c.BatchSize <= 0 || c.BatchSize > 10000 {
		add(name("BATCH_SIZE"), "must be between 1 and 10000, got %d", c.BatchSize)
	}
	positiveDur("FLUSH_INTERVAL", c.FlushInterval)
	if c.ChatMaxLen < 0 {
		add(name("CHAT_MAX_LEN"), "must be >= 0, got %d", c.ChatMaxLen)
	}
	if c.ModMaxLen < 0 {
		add(name("MOD_MAX_LEN"), "must be >= 0, got %d", c.ModMaxLen)
	}
	positiveDur("RETRY_BASE", c.RetryBase)
	if c.RetryMax < c.RetryBase {
		add(name("RETRY_MAX"), "must be >= INGEST_RETRY_BASE (%v), got %v", c.RetryBase, c.RetryMax)
	}
	if c.RateLimit < 0 {
		add(name("RATE_LIMIT"), "must be >= 0 (0 disables), got %d", c.RateLimit)
	}
	if c.RateLimit > 0 {
		positive("RATE_LIMIT_BURST", c.RateLimitBurst)
		positiveDur("RATE_LIMIT_TIMEOUT", c.RateLimitTimeout)
		if c.RateLimitLease < 0 {
			add(name("RATE_LIMIT_LEASE"), "must be >= 0 (0 disables), got %s", c.RateLimitLease)
		}
		if c.RateLimitKey == "" {
			add(name("RATE_LIMIT_KEY"), "must not be empty")
		}
	}
	positiveDur("DIAL_TIMEOUT", c.DialTimeout)
	positiveDur("LOGIN_TIMEOUT", c.LoginTimeout)
	positiveDur("IDLE_PING", c.IdlePing)
	positiveDur("PONG_TIMEOUT", c.PongTimeout)
	positiveDur("BACKOFF_BASE", c.BackoffBase)
	if c.BackoffMax < c.BackoffBase {
		add(name("BACKOFF_MAX"), "must be >= INGEST_BACKOFF_BASE (%v), got %v", c.BackoffBase, c.BackoffMax)
	}
	positive("JOIN_LIMIT", c.JoinLimit)
	positiveDur("JOIN_WINDOW", c.JoinWindow)
	positiveDur("OVERLAP_TIMEOUT", c.OverlapTimeout)
	positiveDur("OVERLAP_DRAIN", c.OverlapDrain)
	if c.DedupeCapacity < 1024 {
		add(name("DEDUPE_CAPACITY"), "must be >= 1024, got %d", c.DedupeCapacity)
	}
	positiveDur("SHUTDOWN_TIMEOUT", c.ShutdownTimeout)
	return errors.Join(errs...)
}

// LogValue lists the effective configuration for the start-up log. Secrets
// only show whether they are set.
func (c Config) LogValue() slog.Value {
	u, _ := url.Parse(c.TwitchURL)
	twitchURL := c.TwitchURL
	if u != nil {
		twitchURL = u.Redacted()
	}
	return slog.GroupValue(
		slog.String("twitch_url", twitchURL),
		slog.Bool("twitch_token_set", !c.TwitchToken.Empty()),
		slog.String("twitch_nick", c.TwitchNick),
		slog.Any("channels", c.Channels),
		slog.String("redis_addr", c.Addr),
		slog.Bool("redis_password_set", !c.Password.Empty()),
		slog.Int("redis_db", c.DB),
		slog.String("stream_chat", c.Chat),
		slog.String("stream_mod", c.Mod),
		slog.String("http_addr", c.HTTPAddr),
		slog.String("log_level", c.LogLevel),
		slog.Int("max_line_bytes", c.MaxLineBytes),
		slog.Int("queue_lines", c.QueueLines),
		slog.Int("queue_events", c.QueueEvents),
		slog.Int("queue_publish", c.QueuePublish),
		slog.Int("batch_size", c.BatchSize),
		slog.String("flush_interval", c.FlushInterval.String()),
		slog.Int64("chat_max_len", c.ChatMaxLen),
		slog.Int64("mod_max_len", c.ModMaxLen),
		slog.String("retry_base", c.RetryBase.String()),
		slog.String("retry_max", c.RetryMax.String()),
		slog.Int("rate_limit", c.RateLimit),
		slog.Int("rate_limit_burst", c.RateLimitBurst),
		slog.String("rate_limit_key", c.RateLimitKey),
		slog.String("rate_limit_timeout", c.RateLimitTimeout.String()),
		slog.String("dial_timeout", c.DialTimeout.String()),
		slog.String("login_timeout", c.LoginTimeout.String()),
		slog.String("idle_ping", c.IdlePing.String()),
		slog.String("pong_timeout", c.PongTimeout.String()),
		slog.String("backoff_base", c.BackoffBase.String()),
		slog.String("backoff_max", c.BackoffMax.String()),
		slog.Int("join_limit", c.JoinLimit),
		slog.String("join_window", c.JoinWindow.String()),
		slog.String("overlap_timeout", c.OverlapTimeout.String()),
		slog.String("overlap_drain", c.OverlapDrain.String()),
		slog.Int("dedupe_capacity", c.DedupeCapacity),
		slog.String("shutdown_timeout", c.ShutdownTimeout.String()),
	)
}
