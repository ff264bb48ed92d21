package executor

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Mode selects the backend New builds.
type Mode string

// Modes.
const (
	// ModeAuto uses Helix when the token, client id and moderator id are all
	// set and DryRun when none is; a partial set is a configuration error.
	ModeAuto   Mode = "auto"
	ModeHelix  Mode = "helix"  // always Helix; credentials required
	ModeDryRun Mode = "dryrun" // never call Twitch
)

// Defaults, mirrored by the struct tags below.
const (
	DefaultQueueSize         = 10000
	DefaultWorkers           = 4
	DefaultRequestTimeout    = 15 * time.Second
	DefaultIdempotencyTTL    = 24 * time.Hour
	DefaultIdempotencyPrefix = "streamsafe:idem:"
	DefaultResultsBuffer     = 10000
	DefaultResultsBatch      = 256
	DefaultReason            = "StreamSafe automated moderation"

	DefaultHelixBaseURL     = "https://api.twitch.tv/helix"
	DefaultMaxRetries       = 3
	DefaultBackoffBase      = 250 * time.Millisecond
	DefaultBackoffMax       = 5 * time.Second
	DefaultAttemptTimeout   = 5 * time.Second
	DefaultRateLimitJitter  = 250 * time.Millisecond
	DefaultChannelBanLimit  = 95 // Twitch's observed limit is 100; keep a margin for clock skew and network jitter
	DefaultChannelBanWindow = 30 * time.Second
	DefaultGlobalLimit      = 800
	DefaultGlobalWindow     = time.Minute
)

// Config is the executor's whole configuration surface. Embed it anonymously
// in a service's Config: the variables are then <PREFIX>_EXECUTOR_* with a
// fallback to the bare EXECUTOR_* (and TWITCH_*, HELIX_* for HelixConfig).
type Config struct {
	Mode              Mode          `envconfig:"EXECUTOR_MODE" default:"auto" desc:"auto (helix when Twitch credentials are set, else dryrun), helix or dryrun"`
	QueueSize         int           `envconfig:"EXECUTOR_QUEUE_SIZE" default:"10000" desc:"bounded action queue; Submit drops when full (besides, up to 64 requests wait in the claim stage and EXECUTOR_WORKERS handed to the workers)"`
	Workers           int           `envconfig:"EXECUTOR_WORKERS" default:"4" desc:"goroutines executing actions"`
	RequestTimeout    time.Duration `envconfig:"EXECUTOR_REQUEST_TIMEOUT" default:"15s" desc:"deadline per action, including rate-limit waits and retries"`
	IdempotencyTTL    time.Duration `envconfig:"EXECUTOR_IDEMPOTENCY_TTL" default:"24h" desc:"how long an executed (msg id, action kind) is remembered"`
	IdempotencyPrefix string        `envconfig:"EXECUTOR_IDEMPOTENCY_PREFIX" default:"streamsafe:idem:" desc:"Redis key prefix of idempotency keys"`
	ResultsBuffer     int           `envconfig:"EXECUTOR_RESULTS_BUFFER" default:"10000" desc:"results waiting to be written to the executions stream"`
	ResultsBatch      int           `envconfig:"EXECUTOR_RESULTS_BATCH" default:"256" desc:"most XADDs per pipelined write"`
	ResultsMaxLen     int64         `envconfig:"EXECUTOR_RESULTS_MAXLEN" default:"0" desc:"approximate MAXLEN of the executions stream (0 = no trimming)"`
	DefaultReason     string        `envconfig:"EXECUTOR_DEFAULT_REASON" default:"StreamSafe automated moderation" desc:"reason sent when a request has none (Warn requires one)"`

	// ResultsStream is the executions stream key. It is not read from the
	// environment: set it from stream.Keys.Executions; empty means
	// stream.DefaultExecutions.
	ResultsStream string `ignored:"true"`

	HelixConfig
}

// HelixConfig configures the Helix backend. Token, ClientID and ModeratorID
// can each be given directly or through a file (the *_FILE variables, read by
// Validate when the value itself is empty).
type HelixConfig struct {
	BaseURL         string        `envconfig:"HELIX_BASE_URL" default:"https://api.twitch.tv/helix" desc:"Helix API base URL"`
	ClientID        config.Secret `envconfig:"TWITCH_CLIENT_ID" desc:"Twitch application client id (Client-Id header)"`
	ClientIDFile    string        `envconfig:"TWITCH_CLIENT_ID_FILE" desc:"file holding the client id"`
	Token           config.Secret `envconfig:"TWITCH_TOKEN" desc:"user access token of the moderator (bot) account; an oauth: prefix is removed"`
	TokenFile       string        `envconfig:"TWITCH_TOKEN_FILE" desc:"file holding the user access token"`
	ModeratorID     string        `envconfig:"TWITCH_MODERATOR_ID" desc:"user id of the token's account (moderator_id)"`
	ModeratorIDFile string        `envconfig:"TWITCH_MODERATOR_ID_FILE" desc:"file holding the moderator user id"`

	MaxRetries       int           `envconfig:"HELIX_MAX_RETRIES" default:"3" desc:"retries after the first attempt on 429, 5xx and network errors"`
	BackoffBase      time.Duration `envconfig:"HELIX_BACKOFF_BASE" default:"250ms" desc:"first backoff step (full jitter, doubling)"`
	BackoffMax       time.Duration `envconfig:"HELIX_BACKOFF_MAX" default:"5s" desc:"largest backoff step"`
	AttemptTimeout   time.Duration `envconfig:"HELIX_ATTEMPT_TIMEOUT" default:"5s" desc:"timeout of one HTTP attempt"`
	RateLimitJitter  time.Duration `envconfig:"HELIX_RATELIMIT_JITTER" default:"250ms" desc:"largest random delay added after Ratelimit-Reset"`
	ChannelBanLimit  int           `envconfig:"HELIX_CHANNEL_BAN_LIMIT" default:"95" desc:"most timeouts per channel per window"`
	ChannelBanWindow time.Duration `envconfig:"HELIX_CHANNEL_BAN_WINDOW" default:"30s" desc:"window of the per-channel timeout limit"`
	GlobalLimit      int           `envconfig:"HELIX_GLOBAL_LIMIT" default:"800" desc:"most Helix calls per window over all channels"`
	GlobalWindow     time.Duration `envconfig:"HELIX_GLOBAL_WINDOW" default:"1m" desc:"window of the global limit"`
}

// DefaultConfig returns the defaults (equal to the struct tags), in dry-run
// auto mode.
func DefaultConfig() Config {
	return Config{
		Mode:              ModeAuto,
		QueueSize:         DefaultQueueSize,
		Workers:           DefaultWorkers,
		RequestTimeout:    DefaultRequestTimeout,
		IdempotencyTTL:    DefaultIdempotencyTTL,
		IdempotencyPrefix: DefaultIdempotencyPrefix,
		ResultsBuffer:     DefaultResultsBuffer,
		ResultsBatch:      DefaultResultsBatch,
		DefaultReason:     DefaultReason,
		ResultsStream:     stream.DefaultExecutions,
		HelixConfig:       DefaultHelixConfig(),
	}
}

// DefaultHelixConfig returns the Helix defaults without credentials.
func DefaultHelixConfig() HelixConfig {
	return HelixConfig{
		BaseURL:          DefaultHelixBaseURL,
		MaxRetries:       DefaultMaxRetries,
		BackoffBase:      DefaultBackoffBase,
		BackoffMax:       DefaultBackoffMax,
		AttemptTimeout:   DefaultAttemptTimeout,
		RateLimitJitter:  DefaultRateLimitJitter,
		ChannelBanLimit:  DefaultChannelBanLimit,
		ChannelBanWindow: DefaultChannelBanWindow,
		GlobalLimit:      DefaultGlobalLimit,
		GlobalWindow:     DefaultGlobalWindow,
	}
}

// EffectiveMode resolves ModeAuto: Helix when credentials are set.
func (c *Config) EffectiveMode() Mode {
	if c.Mode == ModeAuto || c.Mode == "" {
		if c.HelixConfig.hasCredentials() {
			return ModeHelix
		}
		return ModeDryRun
	}
	return c.Mode
}

// Validate reads the credential files, then checks every field; errors name
// the environment variable. It must run before New.
func (c *Config) Validate() error {
	var errs []error
	if c.ResultsStream == "" {
		c.ResultsStream = stream.DefaultExecutions
	}
	switch c.Mode {
	case ModeAuto, ModeHelix, ModeDryRun:
	default:
		errs = append(errs, config.Errorf("EXECUTOR_MODE", "must be auto, helix or dryrun, got %q", c.Mode))
	}
	if c.QueueSize < 1 {
		errs = append(errs, config.Errorf("EXECUTOR_QUEUE_SIZE", "must be >= 1, got %d", c.QueueSize))
	}
	if c.Workers < 1 || c.Workers > 256 {
		errs = append(errs, config.Errorf("EXECUTOR_WORKERS", "must be in 1..256, got %d", c.Workers))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, config.Errorf("EXECUTOR_REQUEST_TIMEOUT", "must be > 0, got %s", c.RequestTimeout))
	}
	if c.IdempotencyTTL < time.Second {
		errs = append(errs, config.Errorf("EXECUTOR_IDEMPOTENCY_TTL", "must be >= 1s, got %s", c.IdempotencyTTL))
	}
	if c.IdempotencyPrefix == "" {
		errs = append(errs, config.Errorf("EXECUTOR_IDEMPOTENCY_PREFIX", "must not be empty"))
	}
	if c.ResultsBuffer < 1 {
		errs = append(errs, config.Errorf("EXECUTOR_RESULTS_BUFFER", "must be >= 1, got %d", c.ResultsBuffer))
	}
	if c.ResultsBatch < 1 {
		errs = append(errs, config.Errorf("EXECUTOR_RESULTS_BATCH", "must be >= 1, got %d", c.ResultsBatch))
	}
	if c.ResultsMaxLen < 0 {
		errs = append(errs, config.Errorf("EXECUTOR_RESULTS_MAXLEN", "must be >= 0, got %d", c.ResultsMaxLen))
	}
	if n := len([]rune(c.DefaultReason)); n < 1 || n > maxReasonRunes {
		errs = append(errs, config.Errorf("EXECUTOR_DEFAULT_REASON", "must be 1..%d characters, got %d", maxReasonRunes, n))
	}
	if err := c.HelixConfig.Validate(); err != nil {
		errs = append(errs, err)
	} else if c.Mode == ModeHelix && !c.HelixConfig.hasCredentials() {
		errs = append(errs, config.Errorf("TWITCH_TOKEN", "EXECUTOR_MODE=helix needs TWITCH_TOKEN, TWITCH_CLIENT_ID and TWITCH_MODERATOR_ID (or their *_FILE)"))
	}
	return errors.Join(errs...)
}

func (h *HelixConfig) hasCredentials() bool {
	return !h.Token.Empty() && !h.ClientID.Empty() && h.ModeratorID != ""
}

// Validate reads the credential files and checks the Helix settings. The
// credentials must be all set or all unset.
func (h *HelixConfig) Validate() error {
	var errs []error
	if err := h.Token.ResolveFile(h.TokenFile, "TWITCH_TOKEN_FILE"); err != nil {
		errs = append(errs, err)
	}
	if err := h.ClientID.ResolveFile(h.ClientIDFile, "TWITCH_CLIENT_ID_FILE"); err != nil {
		errs = append(errs, err)
	}
	if h.ModeratorID == "" && h.ModeratorIDFile != "" {
		b, err := os.ReadFile(h.ModeratorIDFile)
		if err != nil {
			errs = append(errs, config.Errorf("TWITCH_MODERATOR_ID_FILE", "read file: %v", err))
		}
		h.ModeratorID = strings.TrimSpace(string(b))
	}
	if t := h.Token.Reveal(); strings.HasPrefix(t, "oauth:") {
		h.Token = config.NewSecret(strings.TrimPrefix(t, "oauth:"))
	}
	set := 0
	for _, ok := range []bool{!h.Token.Empty(), !h.ClientID.Empty(), h.ModeratorID != ""} {
		if ok {
			set++
		}
	}
	if set != 0 && set != 3 {
		errs = append(errs, config.Errorf("TWITCH_TOKEN", "set TWITCH_TOKEN, TWITCH_CLIENT_ID and TWITCH_MODERATOR_ID together (%d of 3 set)", set))
	}
	if strings.ContainsAny(h.Token.Reveal(), " \r\n\t") || strings.ContainsAny(h.ClientID.Reveal(), " \r\n\t") {
		errs = append(errs, config.Errorf("TWITCH_TOKEN", "token and client id must not contain white space"))
	}
	if u, err := url.Parse(h.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, config.Errorf("HELIX_BASE_URL", "must be an http(s) URL, got %q", h.BaseURL))
	}
	if h.MaxRetries < 0 || h.MaxRetries > 10 {
		errs = append(errs, config.Errorf("HELIX_MAX_RETRIES", "must be in 0..10, got %d", h.MaxRetries))
	}
	if h.BackoffBase <= 0 || h.BackoffMax < h.BackoffBase {
		errs = append(errs, config.Errorf("HELIX_BACKOFF_BASE", "must be > 0 and <= HELIX_BACKOFF_MAX, got %s and %s", h.BackoffBase, h.BackoffMax))
	}
	if h.AttemptTimeout <= 0 {
		errs = append(errs, config.Errorf("HELIX_ATTEMPT_TIMEOUT", "must be > 0, got %s", h.AttemptTimeout))
	}
	if h.RateLimitJitter < 0 {
		errs = append(errs, config.Errorf("HELIX_RATELIMIT_JITTER", "must be >= 0, got %s", h.RateLimitJitter))
	}
	if h.ChannelBanLimit < 1 || h.ChannelBanWindow <= 0 {
		errs = append(errs, config.Errorf("HELIX_CHANNEL_BAN_LIMIT", "limit must be >= 1 and window > 0, got %d per %s", h.ChannelBanLimit, h.ChannelBanWindow))
	}
	if h.GlobalLimit < 1 || h.GlobalWindow <= 0 {
		errs = append(errs, config.Errorf("HELIX_GLOBAL_LIMIT", "limit must be >= 1 and window > 0, got %d per %s", h.GlobalLimit, h.GlobalWindow))
	}
	return errors.Join(errs...)
}

// String describes the effective settings without secrets, for the start-up
// log line.
func (c *Config) String() string {
	return fmt.Sprintf("mode=%s queue=%d workers=%d request_timeout=%s idempotency_ttl=%s helix=%s retries=%d channel_bans=%d/%s global=%d/%s credentials=%t",
		c.EffectiveMode(), c.QueueSize, c.Workers, c.RequestTimeout, c.IdempotencyTTL, c.BaseURL, c.MaxRetries,
		c.ChannelBanLimit, c.ChannelBanWindow, c.GlobalLimit, c.GlobalWindow, c.hasCredentials())
}
