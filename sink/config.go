package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
)

// envPrefix prefixes every variable of Config.
const envPrefix = "SINK"

// Dataset names (directories under SINK_DIR, values of SINK_STREAMS).
const (
	dsDecisions  = "decisions"
	dsMod        = "mod"
	dsExecutions = "executions"
)

var allDatasets = []string{dsDecisions, dsMod, dsExecutions}

// Config is the whole configuration of the sink service, read from the
// environment (CONFIG.md lists every variable).
type Config struct {
	config.Redis // the stream bus
	stream.Keys

	Dir          string        `default:"data" desc:"data directory: <dir>/<stream>/dt=YYYY-MM-DD/hour=HH/part-<first id>-<last id>.parquet"`
	Streams      string        `default:"decisions,mod,executions" desc:"datasets to write (comma-separated subset of decisions, mod, executions)"`
	Group        string        `default:"sink" desc:"consumer group on each stream"`
	ConsumerName string        `split_words:"true" desc:"consumer name and lease owner (default: the hostname); stable across restarts; more sinks of one group wait as standbys (one writer at a time)"`
	LeaseTTL     time.Duration `split_words:"true" default:"15s" desc:"lifetime of the single-writer lease (Redis key <STREAM_DECISIONS>:sink-lease:<SINK_GROUP>); a second sink waits as a standby until it is free, a sink that cannot renew it stops"`
	BatchCount   int64         `split_words:"true" default:"1000" desc:"entries per XREADGROUP"`
	Block        time.Duration `default:"1s" desc:"XREADGROUP BLOCK; must be below SINK_SHUTDOWN_TIMEOUT"`
	// MaxDeliveries is high: an entry is delivered again after every sink
	// crash while its file was not yet committed, which says nothing bad
	// about the entry.
	MaxDeliveries    int64         `split_words:"true" default:"1000" desc:"entries delivered more often are dead-lettered (a crash re-delivers the uncommitted entries)"`
	CallTimeout      time.Duration `split_words:"true" default:"5s" desc:"timeout of each Redis call but the blocking read"`
	InfoInterval     time.Duration `split_words:"true" default:"5s" desc:"poll period of XINFO GROUPS for the lag/pending gauges"`
	DeadLetterMaxLen int64         `split_words:"true" default:"100000" desc:"approximate MAXLEN (~) of the dead-letter stream"`

	RowGroupRows int           `split_words:"true" default:"20000" desc:"rows per Parquet row group"`
	FileRows     int           `split_words:"true" default:"100000" desc:"a file is committed at this many rows ..."`
	FileBytes    int64         `split_words:"true" default:"134217728" desc:"... or at this many estimated bytes of buffered rows (bounds memory: about twice this per dataset) ..."`
	FileAge      time.Duration `split_words:"true" default:"30s" desc:"... or this long after its first row (bounds how stale the files are)"`

	HTTPAddr        string        `split_words:"true" default:"127.0.0.1:9103" desc:"listen address of /metrics, /health, /ready (empty disables)"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	ShutdownTimeout time.Duration `split_words:"true" default:"30s" desc:"on SIGTERM, longest wait for the in-flight batch and the final commit"`
}

// loadConfig reads and validates the configuration.
func loadConfig() (Config, error) {
	var cfg Config
	if err := config.Load(envPrefix, &cfg); err != nil {
		return Config{}, err
	}
	if cfg.ConsumerName == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			return Config{}, fmt.Errorf("load sink config: %w", config.Errorf("SINK_CONSUMER_NAME", "not set and no hostname: %v", err))
		}
		cfg.ConsumerName = h
	}
	return cfg, nil
}

// Validate checks every field and returns all problems, each naming its
// environment variable.
func (c *Config) Validate() error {
	errs := []error{c.Redis.Validate(), c.Keys.Validate()}
	add := func(v, format string, args ...any) {
		errs = append(errs, config.Errorf(envPrefix+"_"+v, format, args...))
	}
	if c.Dir == "" {
		add("DIR", "must not be empty")
	}
	if _, err := c.datasets(); err != nil {
		add("STREAMS", "%v", err)
	}
	if c.Group == "" {
		add("GROUP", "must not be empty")
	}
	if c.LeaseTTL < time.Second {
		add("LEASE_TTL", "must be >= 1s, got %s", c.LeaseTTL)
	}
	if c.BatchCount < 1 || c.BatchCount > 100_000 {
		add("BATCH_COUNT", "must be in 1..100000, got %d", c.BatchCount)
	}
	if c.Block < time.Millisecond || c.Block >= c.ShutdownTimeout {
		add("BLOCK", "must be >= 1ms and below SINK_SHUTDOWN_TIMEOUT (%s), got %s", c.ShutdownTimeout, c.Block)
	}
	if c.MaxDeliveries < 1 {
		add("MAX_DELIVERIES", "must be >= 1, got %d", c.MaxDeliveries)
	}
	if c.CallTimeout <= 0 {
		add("CALL_TIMEOUT", "must be > 0, got %s", c.CallTimeout)
	}
	if c.InfoInterval <= 0 {
		add("INFO_INTERVAL", "must be > 0, got %s", c.InfoInterval)
	}
	if c.DeadLetterMaxLen < 1 {
		add("DEAD_LETTER_MAX_LEN", "must be >= 1, got %d", c.DeadLetterMaxLen)
	}
	if c.RowGroupRows < 1 {
		add("ROW_GROUP_ROWS", "must be >= 1, got %d", c.RowGroupRows)
	}
	if c.FileRows < 1 {
		add("FILE_ROWS", "must be >= 1, got %d", c.FileRows)
	}
	if c.FileBytes < 1 {
		add("FILE_BYTES", "must be >= 1, got %d", c.FileBytes)
	}
	if c.FileAge <= 0 {
		add("FILE_AGE", "must be > 0, got %s", c.FileAge)
	}
	if c.RowGroupRows > c.FileRows {
		add("ROW_GROUP_ROWS", "must not exceed SINK_FILE_ROWS (%d), got %d", c.FileRows, c.RowGroupRows)
	}
	if _, err := logging.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, config.Errorf("LOG_LEVEL", "%v", err))
	}
	if c.ShutdownTimeout <= 0 {
		add("SHUTDOWN_TIMEOUT", "must be > 0, got %s", c.ShutdownTimeout)
	}
	return errors.Join(errs...)
}

// datasets parses SINK_STREAMS.
func (c *Config) datasets() ([]string, error) {
	var out []string
	for _, s := range strings.Split(c.Streams, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !slices.Contains(allDatasets, s) {
			return nil, fmt.Errorf("unknown dataset %q (want some of %s)", s, strings.Join(allDatasets, ", "))
		}
		if slices.Contains(out, s) {
			return nil, fmt.Errorf("dataset %q listed twice", s)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("no dataset")
	}
	return out, nil
}

// streamKey returns the stream key of a dataset.
func (c *Config) streamKey(ds string) string {
	switch ds {
	case dsDecisions:
		return c.Keys.Decisions
	case dsMod:
		return c.Keys.Mod
	default:
		return c.Keys.Executions
	}
}

func (c *Config) limits() filewriter.Limits {
	return filewriter.Limits{RowGroupRows: c.RowGroupRows, FileRows: c.FileRows, FileBytes: c.FileBytes, FileAge: c.FileAge}
}

// busOptions returns the stream-bus client options; context deadlines
// bound the socket I/O.
func (c *Config) busOptions() *redis.Options {
	o := c.Redis.Options()
	o.ContextTimeoutEnabled = true
	return o
}

// consumerConfig returns the consumer of one dataset: one worker (the
// single writer of the dataset's files), no periodic takeover (ClaimAll at
// start moves every pending entry to it instead).
func (c *Config) consumerConfig(ds string, setReady func(bool)) stream.ConsumerConfig {
	return stream.ConsumerConfig{
		Stream: c.streamKey(ds), Group: c.Group, ConsumerPrefix: c.ConsumerName + "-" + ds, Workers: 1,
		BatchCount: c.BatchCount, Block: c.Block, MinIdle: 24 * time.Hour, ClaimInterval: time.Hour,
		MaxDeliveries: c.MaxDeliveries, DeadLetter: c.Keys.DeadLetter, DeadLetterMaxLen: c.DeadLetterMaxLen,
		CallTimeout: c.CallTimeout, InfoInterval: c.InfoInterval, SetReady: setReady, Prefetch: true, FastReads: true, FlatFields: true,
	}
}

// leaseKey is the Redis key of the single-writer lease of the sink group.
func (c *Config) leaseKey() string { return c.Keys.Decisions + ":sink-lease:" + c.Group }
