package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/executor"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// envPrefix prefixes every variable of Config.
const envPrefix = "DECIDE"

// Config is the whole configuration of the decide service, read from the
// environment (CONFIG.md lists every variable). Fields with an `envconfig`
// tag are read from DECIDE_<NAME> and fall back to the bare <NAME>; the
// others are DECIDE_<SPLIT_NAME> only. Relative file paths are resolved
// against the working directory (the repository root in development, the
// image's WORKDIR in a container).
type Config struct {
	config.Redis // the stream bus
	stream.Keys

	Group          string        `default:"decide" desc:"consumer group on the chat stream"`
	ModGroup       string        `split_words:"true" default:"decide-mod" desc:"consumer group on the mod stream"`
	ConsumerPrefix string        `split_words:"true" desc:"consumer names are PREFIX-N (N = 0..workers-1); PREFIX must be stable across restarts of one replica (default: the hostname)"`
	Workers        int           `default:"2" desc:"chat-stream workers (each a consumer reading and deciding batches)"`
	ModWorkers     int           `split_words:"true" default:"1" desc:"mod-stream workers"`
	BatchCount     int64         `split_words:"true" default:"100" desc:"most entries per XREADGROUP (and per feature-store round trip), reached only under a sustained backlog (DECIDE_MIN_BATCH_COUNT): larger batches raise throughput, smaller ones cut tail latency; with the feature store on its own Redis, 200-400 decide more per second in a backlog, but on the bus's Redis each large feature-store call holds up ingest's writes"`
	MinBatchCount  int64         `split_words:"true" default:"20" desc:"when > 0, the XREADGROUP COUNT adapts between min(this, DECIDE_BATCH_COUNT) and DECIDE_BATCH_COUNT: doubled after 100 ms of reads that were all full (a backlog), halved after a read that is not full (caught up); 0 = always DECIDE_BATCH_COUNT"`
	ReadInterval   time.Duration `split_words:"true" default:"0s" desc:"when > 0, a worker whose read of new entries was not full starts its next read no earlier than this after that one (0 = off): under load the workers read in larger batches (fewer round trips and per-batch costs per message), a worker blocked in a read still takes new entries at once, a full read (a backlog) is followed by the next at once; reads then always ask for DECIDE_BATCH_COUNT entries (DECIDE_MIN_BATCH_COUNT is ignored); it trades latency for CPU: at 10,000 msgs/s with the other defaults, 20ms makes batches of about 70 instead of 12, a third less CPU per message, and a read-to-written p99 of about 10 ms instead of 3"`
	Block          time.Duration `default:"1s" desc:"XREADGROUP BLOCK; must be below DECIDE_SHUTDOWN_TIMEOUT"`
	MinIdle        time.Duration `split_words:"true" default:"60s" desc:"pending entries idle this long under any consumer are taken over (XAUTOCLAIM)"`
	ClaimInterval  time.Duration `split_words:"true" default:"10s" desc:"how often each worker looks for idle entries to take over"`
	MaxDeliveries  int64         `split_words:"true" default:"10" desc:"entries delivered more often are moved to the dead-letter stream"`
	CallTimeout    time.Duration `split_words:"true" default:"2s" desc:"timeout of each consumer Redis call (ack, claim, pending) and of the decision write"`
	InfoInterval   time.Duration `split_words:"true" default:"5s" desc:"poll period of XINFO GROUPS for the lag/pending gauges"`

	DecisionsMaxLen  int64 `split_words:"true" default:"1000000" desc:"approximate MAXLEN (~) of the decisions stream; 0 disables trimming"`
	DeadLetterMaxLen int64 `split_words:"true" default:"100000" desc:"approximate MAXLEN (~) of the dead-letter stream"`

	PolicyFile string `split_words:"true" default:"decide/policies/baseline-v1.json" desc:"risk policy file (relative to the working directory)"`
	ClampFile  string `split_words:"true" desc:"clamp limits file (JSON, see decide/internal/clamp RULES.md); empty = the built-in defaults"`

	FeatureRedisAddr     string        `split_words:"true" desc:"feature-store Redis host:port (or unix:/path); empty = the stream bus (REDIS_ADDR, same password and DB)"`
	FeatureRedisPassword config.Secret `split_words:"true" desc:"feature-store Redis password (with DECIDE_FEATURE_REDIS_ADDR)"`
	FeatureRedisDB       int           `split_words:"true" default:"0" desc:"feature-store Redis database (with DECIDE_FEATURE_REDIS_ADDR)"`
	FeaturePrefix        string        `split_words:"true" default:"streamsafe:fs:" desc:"key prefix of the feature store"`
	FeatureTimeout       time.Duration `split_words:"true" default:"20ms" desc:"timeout of one feature-store round trip, plus DECIDE_FEATURE_TIMEOUT_PER_MSG per message of the batch; on timeout or error the batch fails open (IGNORE)"`
	FeatureTimeoutPerMsg time.Duration `split_words:"true" default:"50us" desc:"added to DECIDE_FEATURE_TIMEOUT for each message of a batch (the store's work grows with the batch; a timed-out call still runs to the end in Redis)"`
	FeatureConcurrency   int           `split_words:"true" default:"2" desc:"at most this many batches in a feature-store round trip at once (0 = no cap); with more DECIDE_WORKERS than this, the other workers compute and write their batches meanwhile, so writes overlap the store's work without queueing more calls in the store (where they eat into each other's timeout)"`
	FeatureUserTTL       time.Duration `split_words:"true" default:"24h" desc:"lifetime of a (channel, user) history after its last update"`
	FeatureWindowTTL     time.Duration `split_words:"true" default:"2m" desc:"lifetime of velocity and copypasta buckets (>= 61s)"`
	FeatureSnapshotTTL   time.Duration `split_words:"true" default:"2m" desc:"how long (at least, in message time) a message's snapshot is kept so a retried batch is decided identically; costs about 150 bytes of Redis memory per message for 1.25-1.5 times this"`
	FeatureMarkTTL       time.Duration `split_words:"true" default:"10m" desc:"how long our own actions are remembered to tell their mod-stream echo from human moderators"`
	FeatureMaxRecent     int           `split_words:"true" default:"64" desc:"recent message times kept per user (user_msgs_10s/60s saturate here)"`
	RaidWindow           time.Duration `split_words:"true" default:"5m" desc:"raid mode lasts this long after a raid event (by message time)"`
	RaidVelocity10s      int           `envconfig:"RAID_VELOCITY_10S" default:"0" desc:"also raid mode from this many channel messages in 10 s; 0 disables"`

	Budget         time.Duration `default:"50ms" desc:"latency budget of a decision path (read to clamp); over it the clamp's latency fallback applies"`
	ExploreEpsilon float64       `split_words:"true" default:"0" desc:"epsilon-greedy exploration probability in [0, 1] (gentler allowed actions only)"`

	executor.Config

	HTTPAddr        string        `split_words:"true" default:"127.0.0.1:9102" desc:"listen address of /metrics, /health, /ready (empty disables)"`
	Pprof           bool          `default:"false" desc:"also serve Go's profiles on DECIDE_HTTP_ADDR under /debug/pprof/ (for load tests; they reveal internals)"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	ShutdownTimeout time.Duration `split_words:"true" default:"10s" desc:"on SIGTERM, longest wait for the in-flight batches and the executor queue"`
}

// loadConfig reads and validates the configuration.
func loadConfig() (Config, error) {
	var cfg Config
	if err := config.Load(envPrefix, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.ConsumerPrefix == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return Config{}, fmt.Errorf("load decide config: %w", config.Errorf("DECIDE_CONSUMER_PREFIX", "not set and no hostname: %v", err))
		}
		cfg.ConsumerPrefix = h
	}
	cfg.Config.ResultsStream = cfg.Keys.Executions
	return cfg, nil
}

// Validate checks every field and returns all problems, each naming its
// environment variable.
func (c *Config) Validate() error {
	errs := []error{c.Redis.Validate(), c.Keys.Validate(), c.Config.Validate()}
	add := func(v, format string, args ...any) {
		errs = append(errs, config.Errorf(envPrefix+"_"+v, format, args...))
	}
	if c.Group == "" || c.ModGroup == "" || c.Group == c.ModGroup {
		add("GROUP", "DECIDE_GROUP and DECIDE_MOD_GROUP must be set and differ")
	}
	if c.Workers < 1 || c.Workers > 64 {
		add("WORKERS", "must be in 1..64, got %d", c.Workers)
	}
	if c.ModWorkers < 1 || c.ModWorkers > 64 {
		add("MOD_WORKERS", "must be in 1..64, got %d", c.ModWorkers)
	}
	if c.FeatureConcurrency < 0 {
		add("FEATURE_CONCURRENCY", "must be >= 0 (0 = no cap), got %d", c.FeatureConcurrency)
	}
	if c.BatchCount < 1 || c.BatchCount > 10_000 {
		add("BATCH_COUNT", "must be in 1..10000, got %d", c.BatchCount)
	}
	if c.MinBatchCount < 0 {
		add("MIN_BATCH_COUNT", "must be >= 0, got %d", c.MinBatchCount)
	}
	if c.ReadInterval < 0 || c.ReadInterval > time.Second {
		add("READ_INTERVAL", "must be in 0s..1s, got %s", c.ReadInterval)
	}
	if c.Block < time.Millisecond || c.Block >= c.ShutdownTimeout {
		add("BLOCK", "must be >= 1ms and below DECIDE_SHUTDOWN_TIMEOUT (%s), got %s", c.ShutdownTimeout, c.Block)
	}
	if c.MinIdle <= c.Block || c.MinIdle <= c.CallTimeout {
		add("MIN_IDLE", "must exceed DECIDE_BLOCK and DECIDE_CALL_TIMEOUT, got %s", c.MinIdle)
	}
	if c.ClaimInterval <= 0 || c.CallTimeout <= 0 || c.InfoInterval <= 0 {
		add("CLAIM_INTERVAL", "DECIDE_CLAIM_INTERVAL, DECIDE_CALL_TIMEOUT and DECIDE_INFO_INTERVAL must be > 0")
	}
	if c.MaxDeliveries < 1 {
		add("MAX_DELIVERIES", "must be >= 1, got %d", c.MaxDeliveries)
	}
	if c.DecisionsMaxLen < 0 || c.DeadLetterMaxLen < 1 {
		add("DECISIONS_MAX_LEN", "DECIDE_DECISIONS_MAX_LEN must be >= 0 and DECIDE_DEAD_LETTER_MAX_LEN >= 1")
	}
	if c.PolicyFile == "" {
		add("POLICY_FILE", "must not be empty")
	}
	if err := c.storeConfig().Validate(); err != nil {
		add("FEATURE_*", "%v", err)
	}
	if c.FeatureRedisDB < 0 {
		add("FEATURE_REDIS_DB", "must be >= 0, got %d", c.FeatureRedisDB)
	}
	if c.Budget <= 0 {
		add("BUDGET", "must be > 0, got %s", c.Budget)
	}
	if !(c.ExploreEpsilon >= 0 && c.ExploreEpsilon <= 1) {
		add("EXPLORE_EPSILON", "must be in [0, 1], got %v", c.ExploreEpsilon)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, config.Errorf("LOG_LEVEL", "%v", err))
	}
	if c.ShutdownTimeout <= 0 {
		add("SHUTDOWN_TIMEOUT", "must be > 0, got %s", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

// Warnings returns what the config allows but an operator probably did
// not mean; decide logs each at start.
func (c *Config) Warnings() []string {
	var w []string
	if full := c.FeatureTimeout + time.Duration(c.BatchCount)*c.FeatureTimeoutPerMsg; full >= c.Budget {
		w = append(w, fmt.Sprintf("the feature-store timeout of a full batch (DECIDE_FEATURE_TIMEOUT + DECIDE_BATCH_COUNT x "+
			"DECIDE_FEATURE_TIMEOUT_PER_MSG = %s) is not below DECIDE_BUDGET (%s): while the store hangs, decisions miss their budget",
			full, c.Budget))
	}
	return w
}

// busOptions returns the stream-bus client options. Context deadlines bound
// the socket I/O, so every call's own timeout is honoured.
func (c *Config) busOptions() *redis.Options {
	o := c.Redis.Options()
	o.ContextTimeoutEnabled = true
	return o
}

// storeOptions returns the feature-store client options: the bus settings
// or DECIDE_FEATURE_REDIS_*, failing fast (no command retries, one dial
// attempt) because a slow store means a fail-open decision, not a wait.
func (c *Config) storeOptions() *redis.Options {
	o := c.busOptions()
	if c.FeatureRedisAddr != "" {
		o.Network, o.Addr = config.RedisNetwork(c.FeatureRedisAddr)
		o.Password, o.DB = c.FeatureRedisPassword.Reveal(), c.FeatureRedisDB
	}
	o.MaxRetries = -1
	o.DialerRetries = 1
	o.DialTimeout = max(c.FeatureTimeout*5, 100*time.Millisecond)
	return o
}

func (c *Config) storeConfig() featurestore.Config {
	return featurestore.Config{
		Prefix: c.FeaturePrefix, UserTTL: c.FeatureUserTTL, WindowTTL: c.FeatureWindowTTL, SnapshotTTL: c.FeatureSnapshotTTL,
		MarkTTL: c.FeatureMarkTTL, RaidWindow: c.RaidWindow, RaidVelocity10s: c.RaidVelocity10s,
		MaxRecent: c.FeatureMaxRecent, Timeout: c.FeatureTimeout, TimeoutPerMsg: c.FeatureTimeoutPerMsg,
	}
}

func (c *Config) consumerConfig(key, group string, workers int, setReady func(bool)) stream.ConsumerConfig {
	return stream.ConsumerConfig{
		Stream: key, Group: group, ConsumerPrefix: c.ConsumerPrefix, Workers: workers, BatchCount: c.BatchCount,
		Block: c.Block, MinIdle: c.MinIdle, ClaimInterval: c.ClaimInterval, MaxDeliveries: c.MaxDeliveries,
		DeadLetter: c.Keys.DeadLetter, DeadLetterMaxLen: c.DeadLetterMaxLen, CallTimeout: c.CallTimeout,
		InfoInterval: c.InfoInterval, SetReady: setReady,
	}
}

// loadClampConfig reads the clamp limits file, or returns the defaults when
// path is empty.
func loadClampConfig(path string) (clamp.Config, error) {
	if path == "" {
		return clamp.DefaultConfig(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return clamp.Config{}, fmt.Errorf("load clamp limits: %w", err)
	}
	var cfg clamp.Config
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&cfg); err != nil {
		return clamp.Config{}, fmt.Errorf("load clamp limits %q: %w", path, err)
	}
	return cfg, nil
}
