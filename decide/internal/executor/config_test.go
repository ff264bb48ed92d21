package executor

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/streamsafe-rl/streamsafe/shared/config"
)

// serviceConfig embeds Config the way decide's Config should.
type serviceConfig struct {
	Config
}

var executorEnv = []string{
	"EXECUTOR_MODE", "EXECUTOR_QUEUE_SIZE", "EXECUTOR_WORKERS", "EXECUTOR_REQUEST_TIMEOUT", "EXECUTOR_IDEMPOTENCY_TTL",
	"EXECUTOR_IDEMPOTENCY_PREFIX", "EXECUTOR_RESULTS_BUFFER", "EXECUTOR_RESULTS_BATCH", "EXECUTOR_RESULTS_MAXLEN",
	"EXECUTOR_DEFAULT_REASON", "HELIX_BASE_URL", "TWITCH_CLIENT_ID", "TWITCH_CLIENT_ID_FILE", "TWITCH_TOKEN",
	"TWITCH_TOKEN_FILE", "TWITCH_MODERATOR_ID", "TWITCH_MODERATOR_ID_FILE", "HELIX_MAX_RETRIES", "HELIX_BACKOFF_BASE",
	"HELIX_BACKOFF_MAX", "HELIX_ATTEMPT_TIMEOUT", "HELIX_RATELIMIT_JITTER", "HELIX_CHANNEL_BAN_LIMIT",
	"HELIX_CHANNEL_BAN_WINDOW", "HELIX_GLOBAL_LIMIT", "HELIX_GLOBAL_WINDOW",
}

// clearEnv unsets every variable the config reads, bare and prefixed.
func clearEnv(t *testing.T) {
	t.Helper()
	for _, v := range executorEnv {
		for _, name := range []string{v, "DECIDE_" + v} {
			if old, ok := os.LookupEnv(name); ok {
				t.Setenv(name, old) // restores it at cleanup
				os.Unsetenv(name)
			}
		}
	}
}

func TestConfig_DefaultsMatchTags(t *testing.T) {
	clearEnv(t)
	var got serviceConfig
	if err := config.Load("DECIDE", &got); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	want := DefaultConfig()
	if !reflect.DeepEqual(got.Config, want) {
		t.Errorf("Load() with no environment =\n%+v\nwant DefaultConfig()\n%+v", got.Config, want)
	}
	if m := got.EffectiveMode(); m != ModeDryRun {
		t.Errorf("EffectiveMode() = %s, want dryrun without credentials", m)
	}
}

func TestConfig_Environment(t *testing.T) {
	clearEnv(t)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("oauth:abc123\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	modFile := filepath.Join(dir, "mod")
	if err := os.WriteFile(modFile, []byte(" 4242 \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DECIDE_EXECUTOR_WORKERS", "7")
	t.Setenv("EXECUTOR_QUEUE_SIZE", "123") // bare fallback
	t.Setenv("TWITCH_TOKEN_FILE", tokenFile)
	t.Setenv("TWITCH_CLIENT_ID", "cid")
	t.Setenv("TWITCH_MODERATOR_ID_FILE", modFile)
	var got serviceConfig
	if err := config.Load("DECIDE", &got); err != nil {
		t.Fatalf("Load() = %v", err)
	}
	if got.Workers != 7 || got.QueueSize != 123 || got.Token.Reveal() != "abc123" || got.ClientID.Reveal() != "cid" || got.ModeratorID != "4242" {
		t.Errorf("Load() = workers %d queue %d token %q client %q moderator %q; want 7, 123, abc123 (oauth: removed), cid, 4242",
			got.Workers, got.QueueSize, got.Token.Reveal(), got.ClientID.Reveal(), got.ModeratorID)
	}
	if m := got.EffectiveMode(); m != ModeHelix {
		t.Errorf("EffectiveMode() = %s, want helix with credentials", m)
	}
	if s := got.String(); strings.Contains(s, "abc123") || strings.Contains(s, "cid") {
		t.Errorf("String() = %q reveals a secret", s)
	}
}

func TestConfig_Validate(t *testing.T) {
	creds := func(c *Config) {
		c.Token, c.ClientID, c.ModeratorID = config.NewSecret("t"), config.NewSecret("c"), "1"
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantVar string // "" = valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"credentials", creds, ""},
		{"bad_mode", func(c *Config) { c.Mode = "yolo" }, "EXECUTOR_MODE"},
		{"helix_without_credentials", func(c *Config) { c.Mode = ModeHelix }, "TWITCH_TOKEN"},
		{"partial_credentials", func(c *Config) { c.Token = config.NewSecret("t") }, "TWITCH_TOKEN"},
		{"zero_workers", func(c *Config) { c.Workers = 0 }, "EXECUTOR_WORKERS"},
		{"zero_queue", func(c *Config) { c.QueueSize = 0 }, "EXECUTOR_QUEUE_SIZE"},
		{"bad_url", func(c *Config) { c.BaseURL = "ftp://x" }, "HELIX_BASE_URL"},
		{"negative_retries", func(c *Config) { c.MaxRetries = -1 }, "HELIX_MAX_RETRIES"},
		{"backoff_order", func(c *Config) { c.BackoffMax = c.BackoffBase / 2 }, "HELIX_BACKOFF_BASE"},
		{"channel_limit", func(c *Config) { c.ChannelBanLimit = 0 }, "HELIX_CHANNEL_BAN_LIMIT"},
		{"long_reason", func(c *Config) { c.DefaultReason = strings.Repeat("x", 501) }, "EXECUTOR_DEFAULT_REASON"},
		{"missing_token_file", func(c *Config) { c.TokenFile = "/nonexistent/token" }, "TWITCH_TOKEN_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			err := c.Validate()
			switch {
			case tt.wantVar == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantVar != "" && (err == nil || !strings.Contains(err.Error(), tt.wantVar)):
				t.Errorf("Validate() = %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}
}
