package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/config/configtest"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/logging/logtest"
)

var update = flag.Bool("update", false, "rewrite CONFIG.md from the Config struct")

// envVars lists the variables of Config in field order.
func envVars(t *testing.T) []config.Var { return configtest.Vars(t, envPrefix, &Config{}) }

// clearEnv unsets every variable Config reads, so the developer's
// environment cannot leak into the tests.
func clearEnv(t *testing.T) { configtest.ClearEnv(t, envPrefix, &Config{}) }

func TestLoadConfig_Defaults(t *testing.T) {
	clearEnv(t)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	host, _ := os.Hostname()
	ds, _ := cfg.datasets()
	cc := cfg.consumerConfig(dsMod, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"redis", cfg.Redis.Addr, "127.0.0.1:6379"},
		{"dir", cfg.Dir, "data"},
		{"datasets", strings.Join(ds, ","), "decisions,mod,executions"},
		{"group", cfg.Group, "sink"},
		{"consumer name = hostname", cfg.ConsumerName, host},
		{"batch", cfg.BatchCount, int64(1000)},
		{"block", cfg.Block, time.Second},
		{"max deliveries", cfg.MaxDeliveries, int64(1000)},
		{"call timeout", cfg.CallTimeout, 5 * time.Second},
		{"info interval", cfg.InfoInterval, 5 * time.Second},
		{"dead-letter maxlen", cfg.DeadLetterMaxLen, int64(100_000)},
		{"row group rows", cfg.RowGroupRows, 20_000},
		{"file rows", cfg.FileRows, 100_000},
		{"file bytes", cfg.FileBytes, int64(128 << 20)},
		{"file age", cfg.FileAge, 30 * time.Second},
		{"http", cfg.HTTPAddr, "127.0.0.1:9103"},
		{"log level", cfg.LogLevel, "info"},
		{"shutdown", cfg.ShutdownTimeout, 30 * time.Second},
		{"decisions key", cfg.streamKey(dsDecisions), "streamsafe:decisions"},
		{"mod key", cfg.streamKey(dsMod), "streamsafe:mod"},
		{"executions key", cfg.streamKey(dsExecutions), "streamsafe:executions"},
		{"bus honours ctx deadlines", cfg.busOptions().ContextTimeoutEnabled, true},
		// One worker per dataset: the sink is the single writer of its files.
		{"consumer workers", cc.Workers, 1},
		{"consumer stream", cc.Stream, "streamsafe:mod"},
		{"consumer name", cc.ConsumerPrefix, host + "-mod"},
		{"consumer dead letters", cc.DeadLetter, "streamsafe:deadletter"},
		{"consumer max deliveries", cc.MaxDeliveries, int64(1000)},
		{"limits", cfg.limits().FileAge, 30 * time.Second},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := cc.Validate(); err != nil {
		t.Errorf("consumerConfig(mod).Validate() = %v", err)
	}
	if cc.MinIdle <= cfg.ShutdownTimeout {
		t.Errorf("consumer MinIdle %s must exceed the shutdown budget %s (nobody takes over kept entries)", cc.MinIdle, cfg.ShutdownTimeout)
	}
}

func TestLoadConfig_Overrides(t *testing.T) {
	clearEnv(t)
	t.Setenv("REDIS_ADDR", "bus:6379")
	t.Setenv("SINK_REDIS_PASSWORD", "hunter2")
	t.Setenv("SINK_DIR", "/srv/streamsafe")
	t.Setenv("SINK_STREAMS", " mod , decisions ")
	t.Setenv("SINK_CONSUMER_NAME", "sink-a")
	t.Setenv("SINK_FILE_AGE", "5s")
	t.Setenv("SINK_FILE_ROWS", "5000")
	t.Setenv("SINK_ROW_GROUP_ROWS", "5000")
	t.Setenv("STREAM_DECISIONS", "other:decisions")
	t.Setenv("LOG_LEVEL", "debug")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	ds, _ := cfg.datasets()
	checks := []struct {
		name      string
		got, want any
	}{
		{"redis", cfg.busOptions().Addr, "bus:6379"},
		{"password", cfg.busOptions().Password, "hunter2"},
		{"dir", cfg.Dir, "/srv/streamsafe"},
		{"datasets", strings.Join(ds, ","), "mod,decisions"},
		{"consumer", cfg.consumerConfig(dsDecisions, nil).ConsumerPrefix, "sink-a-decisions"},
		{"file age", cfg.FileAge, 5 * time.Second},
		{"file rows", cfg.limits().FileRows, 5000},
		{"decisions key", cfg.consumerConfig(dsDecisions, nil).Stream, "other:decisions"},
		{"log level", cfg.LogLevel, "debug"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfig_Invalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"SINK_DIR": ""}, "SINK_DIR"},
		{map[string]string{"SINK_STREAMS": "decisions,chat"}, "SINK_STREAMS"},
		{map[string]string{"SINK_STREAMS": "mod,mod"}, "SINK_STREAMS"},
		{map[string]string{"SINK_STREAMS": " , "}, "SINK_STREAMS"},
		{map[string]string{"SINK_GROUP": ""}, "SINK_GROUP"},
		{map[string]string{"SINK_BATCH_COUNT": "0"}, "SINK_BATCH_COUNT"},
		{map[string]string{"SINK_BATCH_COUNT": "many"}, "SINK_BATCH_COUNT"},
		{map[string]string{"SINK_BLOCK": "30s"}, "SINK_BLOCK"},
		{map[string]string{"SINK_MAX_DELIVERIES": "0"}, "SINK_MAX_DELIVERIES"},
		{map[string]string{"SINK_CALL_TIMEOUT": "0s"}, "SINK_CALL_TIMEOUT"},
		{map[string]string{"SINK_INFO_INTERVAL": "0s"}, "SINK_INFO_INTERVAL"},
		{map[string]string{"SINK_DEAD_LETTER_MAX_LEN": "0"}, "SINK_DEAD_LETTER_MAX_LEN"},
		{map[string]string{"SINK_ROW_GROUP_ROWS": "0"}, "SINK_ROW_GROUP_ROWS"},
		{map[string]string{"SINK_ROW_GROUP_ROWS": "300000"}, "SINK_ROW_GROUP_ROWS"},
		{map[string]string{"SINK_FILE_ROWS": "0"}, "SINK_FILE_ROWS"},
		{map[string]string{"SINK_FILE_BYTES": "-1"}, "SINK_FILE_BYTES"},
		{map[string]string{"SINK_FILE_AGE": "0s"}, "SINK_FILE_AGE"},
		{map[string]string{"SINK_FILE_AGE": "soon"}, "SINK_FILE_AGE"},
		{map[string]string{"SINK_SHUTDOWN_TIMEOUT": "0s"}, "SINK_SHUTDOWN_TIMEOUT"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"STREAM_MOD": "streamsafe:decisions"}, "STREAM_MOD"},
		{map[string]string{"REDIS_DB": "-1"}, "REDIS_DB"},
		{map[string]string{"SINK_REDIS_ADDR": ""}, "REDIS_ADDR"},
	}
	for _, tt := range tests {
		t.Run(tt.wantVar, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("loadConfig() with %v = %v, want an error naming %s", tt.env, err, tt.wantVar)
			}
		})
	}
}

// TestRun_LogsConfigWithoutSecrets checks the "starting" line run writes:
// the effective configuration, with the Redis password redacted.
func TestRun_LogsConfigWithoutSecrets(t *testing.T) {
	clearEnv(t)
	t.Setenv("REDIS_ADDR", "127.0.0.1:1") // never reached: ctx is cancelled
	t.Setenv("REDIS_PASSWORD", "hunter2")
	t.Setenv("SINK_DIR", t.TempDir())
	t.Setenv("SINK_HTTP_ADDR", "")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	var logs logtest.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := run(ctx, cfg, logging.New(&logs, slog.LevelInfo)); err == nil {
		t.Error("run with a cancelled context = nil, want the start error")
	}
	out := logs.String()
	first, _, _ := strings.Cut(out, "\n")
	if !strings.Contains(first, `"msg":"starting"`) || !strings.Contains(first, `"config"`) || !strings.Contains(first, cfg.Dir) {
		t.Errorf("first log line = %s, want the starting line with the config", first)
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("the log reveals the Redis password:\n%s", out)
	}
	if !strings.Contains(first, "[redacted]") {
		t.Errorf("the starting line does not show the password as [redacted]: %s", first)
	}
}

// TestConfigDoc keeps CONFIG.md's table in sync with Config.
func TestConfigDoc(t *testing.T) {
	table := config.MarkdownTable(envVars(t), nil)
	if err := config.SyncDoc("CONFIG.md", table, *update, "go test ./sink -run TestConfigDoc -update"); err != nil {
		t.Error(err)
	}
	for _, v := range envVars(t) {
		if v.Desc == "" {
			t.Errorf("%s has no desc tag (its CONFIG.md row would be empty)", v.Key)
		}
	}
}
