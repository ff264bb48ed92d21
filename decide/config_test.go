package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/config/configtest"
)

var update = flag.Bool("update", false, "rewrite CONFIG.md from the Config struct")

// envVars lists the variables of Config in field order.
func envVars(t *testing.T) []config.Var { return configtest.Vars(t, envPrefix, &Config{}) }

// clearEnv unsets every variable Config reads, so the developer's
// environment cannot leak into the tests.
func clearEnv(t *testing.T) { configtest.ClearEnv(t, envPrefix, &Config{}) }

func TestLoadConfig_Defaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("DECIDE_CONSUMER_PREFIX", "replica-a")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"group", cfg.Group, "decide"},
		{"mod group", cfg.ModGroup, "decide-mod"},
		{"workers", cfg.Workers, 2},
		{"batch", cfg.BatchCount, int64(100)},
		{"http", cfg.HTTPAddr, "127.0.0.1:9102"},
		{"policy", cfg.PolicyFile, "decide/policies/baseline-v1.json"},
		{"feature timeout", cfg.FeatureTimeout, 20 * time.Millisecond},
		{"user ttl", cfg.FeatureUserTTL, 24 * time.Hour},
		{"window ttl", cfg.FeatureWindowTTL, 2 * time.Minute},
		{"budget", cfg.Budget, 50 * time.Millisecond},
		{"epsilon", cfg.ExploreEpsilon, 0.0},
		{"prefix", cfg.ConsumerPrefix, "replica-a"},
		{"executions stream", cfg.Config.ResultsStream, "streamsafe:executions"},
		{"store addr = bus addr", cfg.storeOptions().Addr, cfg.Redis.Addr},
		{"store fails fast", cfg.storeOptions().MaxRetries, -1},
		{"bus honours ctx deadlines", cfg.busOptions().ContextTimeoutEnabled, true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfig_Overrides(t *testing.T) {
	clearEnv(t)
	t.Setenv("REDIS_ADDR", "bus:6379")
	t.Setenv("DECIDE_FEATURE_REDIS_ADDR", "fs:6380")
	t.Setenv("DECIDE_FEATURE_REDIS_PASSWORD", "hunter2")
	t.Setenv("DECIDE_RAID_VELOCITY_10S", "40")
	t.Setenv("DECIDE_EXECUTOR_WORKERS", "7")
	t.Setenv("DECIDE_WORKERS", "3")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig() = %v", err)
	}
	if cfg.Redis.Addr != "bus:6379" || cfg.storeOptions().Addr != "fs:6380" || cfg.storeOptions().Password != "hunter2" {
		t.Errorf("addresses: bus %s store %s, want bus:6379 and fs:6380 with its password", cfg.Redis.Addr, cfg.storeOptions().Addr)
	}
	if cfg.RaidVelocity10s != 40 || cfg.Workers != 3 || cfg.Config.Workers != 7 {
		t.Errorf("raid velocity %d, workers %d, executor workers %d; want 40, 3, 7", cfg.RaidVelocity10s, cfg.Workers, cfg.Config.Workers)
	}
	b, _ := json.Marshal(cfg)
	if bytes.Contains(b, []byte("hunter2")) {
		t.Errorf("the logged config reveals a secret: %s", b)
	}
}

func TestLoadConfig_Invalid(t *testing.T) {
	tests := []struct {
		env     map[string]string
		wantVar string
	}{
		{map[string]string{"DECIDE_WORKERS": "0"}, "DECIDE_WORKERS"},
		{map[string]string{"DECIDE_BLOCK": "30s"}, "DECIDE_BLOCK"},
		{map[string]string{"DECIDE_MIN_IDLE": "500ms"}, "DECIDE_MIN_IDLE"},
		{map[string]string{"DECIDE_READ_INTERVAL": "2s"}, "DECIDE_READ_INTERVAL"},
		{map[string]string{"DECIDE_EXPLORE_EPSILON": "1.5"}, "DECIDE_EXPLORE_EPSILON"},
		{map[string]string{"DECIDE_FEATURE_WINDOW_TTL": "30s"}, "DECIDE_FEATURE_*"},
		{map[string]string{"DECIDE_MOD_GROUP": "decide"}, "DECIDE_GROUP"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"DECIDE_EXECUTOR_MODE": "yolo"}, "EXECUTOR_MODE"},
		{map[string]string{"STREAM_MOD": "streamsafe:chat"}, "STREAM_MOD"},
	}
	for _, tt := range tests {
		t.Run(tt.wantVar, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			_, err := loadConfig()
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("loadConfig() = %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}
}

// TestConfigDoc keeps CONFIG.md's table in sync with Config.
func TestConfigDoc(t *testing.T) {
	table := config.MarkdownTable(envVars(t), map[string]string{"executor.Mode": "string"})
	if err := config.SyncDoc("CONFIG.md", table, *update, "go test ./decide -run TestConfigDoc -update"); err != nil {
		t.Error(err)
	}
}

// TestConfig_Warnings: the defaults leave a hung feature store's timeout
// inside the budget; batches of 1,000 (20 ms + 1,000 x 50 µs = 70 ms >
// 50 ms) do not, and decide says so at start.
func TestConfig_Warnings(t *testing.T) {
	clearEnv(t)
	t.Setenv("DECIDE_CONSUMER_PREFIX", "replica-a")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if w := cfg.Warnings(); len(w) != 0 {
		t.Errorf("defaults: warnings %q, want none", w)
	}
	t.Setenv("DECIDE_BATCH_COUNT", "1000")
	if cfg, err = loadConfig(); err != nil {
		t.Fatal(err)
	}
	w := cfg.Warnings()
	if len(w) != 1 || !strings.Contains(w[0], "70ms") || !strings.Contains(w[0], "DECIDE_BUDGET (50ms)") {
		t.Errorf("DECIDE_BATCH_COUNT=1000: warnings %q, want one naming 70ms and the 50ms budget", w)
	}
}
