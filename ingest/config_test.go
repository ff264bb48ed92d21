package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

// clearEnv unsets every variable the config reads, for the duration of
// the test.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "INGEST_") || strings.HasPrefix(k, "REDIS_") || strings.HasPrefix(k, "STREAM_") ||
			strings.HasPrefix(k, "TWITCH_") || k == "LOG_LEVEL" {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
}

func TestLoadConfig_Defaults(t *testing.T) {
	clearEnv(t)
	t.Setenv("INGEST_CHANNELS", "#Foo,bar")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"TwitchURL", cfg.TwitchURL, "wss://irc-ws.chat.twitch.tv:443"},
		{"Channels", strings.Join(cfg.Channels, ","), "#Foo,bar"},
		{"HTTPAddr", cfg.HTTPAddr, "127.0.0.1:9101"},
		{"MaxLineBytes", cfg.MaxLineBytes, 8192},
		{"BatchSize", cfg.BatchSize, 256},
		{"FlushInterval", cfg.FlushInterval, 5 * time.Millisecond},
		{"ChatMaxLen", cfg.ChatMaxLen, int64(1_000_000)},
		{"ModMaxLen", cfg.ModMaxLen, int64(100_000)},
		{"RateLimit", cfg.RateLimit, 1000},
		{"RateLimitBurst", cfg.RateLimitBurst, 2000},
		{"IdlePing", cfg.IdlePing, 15 * time.Second},
		{"PongTimeout", cfg.PongTimeout, 5 * time.Second},
		{"JoinLimit", cfg.JoinLimit, 20},
		{"JoinWindow", cfg.JoinWindow, 10 * time.Second},
		{"ShutdownTimeout", cfg.ShutdownTimeout, 10 * time.Second},
		{"Redis.Addr", cfg.Addr, "127.0.0.1:6379"},
		{"Keys.Chat", cfg.Chat, "streamsafe:chat"},
		{"Keys.Mod", cfg.Mod, "streamsafe:mod"},
		{"token empty", cfg.TwitchToken.Empty(), true},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfig_Overrides(t *testing.T) {
	clearEnv(t)
	t.Setenv("INGEST_CHANNELS", "a")
	t.Setenv("TWITCH_TOKEN", "abc") // the bare name works
	t.Setenv("TWITCH_NICK", "bot")
	t.Setenv("INGEST_TWITCH_URL", "irc://127.0.0.1:6667")
	t.Setenv("REDIS_ADDR", "redis:6379")
	t.Setenv("INGEST_BATCH_SIZE", "64")
	t.Setenv("INGEST_RATE_LIMIT", "0")
	t.Setenv("STREAM_CHAT", "x:chat")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if cfg.TwitchToken.Reveal() != "abc" || cfg.TwitchNick != "bot" || cfg.TwitchURL != "irc://127.0.0.1:6667" ||
		cfg.Addr != "redis:6379" || cfg.BatchSize != 64 || cfg.RateLimit != 0 || cfg.Chat != "x:chat" {
		t.Errorf("overrides not applied: %+v", cfg)
	}
	if s := cfg.LogValue().String(); strings.Contains(s, "abc") {
		t.Errorf("effective config log shows the token: %s", s)
	}
}

func TestLoadConfig_TokenFile(t *testing.T) {
	clearEnv(t)
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte("oauth:fromfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("INGEST_CHANNELS", "a")
	t.Setenv("TWITCH_TOKEN_FILE", f)
	t.Setenv("TWITCH_NICK", "bot")
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	if got := cfg.TwitchToken.Reveal(); got != "oauth:fromfile" {
		t.Errorf("token = %q, want oauth:fromfile", got)
	}
}

// Validation errors name the environment variable.
func TestLoadConfig_Invalid(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantVar string
	}{
		{"no_channels", map[string]string{}, "INGEST_CHANNELS"},
		{"bad_channel", map[string]string{"INGEST_CHANNELS": "no spaces"}, "INGEST_CHANNELS"},
		{"bad_scheme", map[string]string{"INGEST_TWITCH_URL": "http://x"}, "INGEST_TWITCH_URL"},
		{"token_without_nick", map[string]string{"TWITCH_TOKEN": "abc"}, "TWITCH_NICK"},
		{"line_limit", map[string]string{"INGEST_MAX_LINE_BYTES": "100"}, "INGEST_MAX_LINE_BYTES"},
		{"batch", map[string]string{"INGEST_BATCH_SIZE": "0"}, "INGEST_BATCH_SIZE"},
		{"negative_rate", map[string]string{"INGEST_RATE_LIMIT": "-1"}, "INGEST_RATE_LIMIT"},
		{"backoff", map[string]string{"INGEST_BACKOFF_BASE": "10s", "INGEST_BACKOFF_MAX": "1s"}, "INGEST_BACKOFF_MAX"},
		{"queue", map[string]string{"INGEST_QUEUE_LINES": "0"}, "INGEST_QUEUE_LINES"},
		{"log_level", map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{"redis", map[string]string{"REDIS_ADDR": ""}, "REDIS_ADDR"},
		{"same_streams", map[string]string{"STREAM_MOD": "streamsafe:chat"}, "STREAM_MOD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearEnv(t)
			if _, ok := tt.env["INGEST_CHANNELS"]; !ok && tt.name != "no_channels" {
				t.Setenv("INGEST_CHANNELS", "a")
			}
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

// TestConfigDoc fails when a configuration variable is missing from
// CONFIG.md (and so from the README, which copies its table).
func TestConfigDoc(t *testing.T) {
	var c Config
	var keys strings.Builder
	if err := envconfig.Usagef("INGEST", &c, &keys, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("CONFIG.md")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range strings.Fields(keys.String()) {
		n++
		bare := strings.TrimPrefix(k, "INGEST_")
		if !strings.Contains(string(doc), "`"+k+"`") && !strings.Contains(string(doc), "`"+bare+"` (or `"+k+"`)") {
			t.Errorf("CONFIG.md does not document %s", k)
		}
	}
	if n < 20 {
		t.Fatalf("found only %d variables; the usage template broke", n)
	}
}
