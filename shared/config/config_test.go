package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type testConfig struct {
	Redis
	Token     Secret        `envconfig:"TOKEN"`
	TokenFile string        `envconfig:"TOKEN_FILE"`
	Flush     time.Duration `split_words:"true" default:"2s"`
	Batch     int           `split_words:"true" default:"100"`
}

func (c *testConfig) Validate() error {
	if c.Batch <= 0 {
		return Errorf("TEST_BATCH", "must be > 0, got %d", c.Batch)
	}
	return c.Token.ResolveFile(c.TokenFile, "TEST_TOKEN_FILE")
}

func TestLoad_DefaultsAndFallback(t *testing.T) {
	t.Setenv("REDIS_ADDR", "10.0.0.1:7000")
	var c testConfig
	if err := Load("test", &c); err != nil {
		t.Fatal(err)
	}
	if c.Addr != "10.0.0.1:7000" || c.Flush != 2*time.Second || c.Batch != 100 {
		t.Errorf("Load = %+v, want addr from bare REDIS_ADDR and defaults", c)
	}
	t.Setenv("TEST_REDIS_ADDR", "127.0.0.1:1")
	if err := Load("test", &c); err != nil || c.Addr != "127.0.0.1:1" {
		t.Errorf("prefixed var: addr = %q, %v; want 127.0.0.1:1", c.Addr, err)
	}
}

func TestLoad_ValidationNamesVariable(t *testing.T) {
	t.Setenv("TEST_BATCH", "0")
	var c testConfig
	err := Load("test", &c)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Var != "TEST_BATCH" {
		t.Fatalf("Load err = %v, want FieldError for TEST_BATCH", err)
	}
	t.Setenv("TEST_BATCH", "x")
	if err := Load("test", &c); err == nil || !strings.Contains(err.Error(), "TEST_BATCH") {
		t.Errorf("Load with bad int: err = %v, want it to name TEST_BATCH", err)
	}
}

func TestSecret_NeverPrinted(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "tok")
	if err := os.WriteFile(f, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_TOKEN_FILE", f)
	var c testConfig
	if err := Load("test", &c); err != nil {
		t.Fatal(err)
	}
	if c.Token.Reveal() != "s3cret" {
		t.Fatalf("Reveal = %q, want s3cret", c.Token.Reveal())
	}
	j, _ := json.Marshal(c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), string(j)} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("secret leaked in %q", s)
		}
	}
}

func TestRedisNetwork(t *testing.T) {
	for in, want := range map[string][2]string{
		"127.0.0.1:6379":             {"tcp", "127.0.0.1:6379"},
		"redis:6379":                 {"tcp", "redis:6379"},
		"unix:/run/redis/redis.sock": {"unix", "/run/redis/redis.sock"},
		"unix:///tmp/r.sock":         {"unix", "/tmp/r.sock"},
		"/tmp/r.sock":                {"unix", "/tmp/r.sock"},
	} {
		n, a := RedisNetwork(in)
		if n != want[0] || a != want[1] {
			t.Errorf("RedisNetwork(%q) = %q, %q; want %q, %q", in, n, a, want[0], want[1])
		}
		if o := (Redis{Addr: in}).Options(); o.Network != want[0] || o.Addr != want[1] {
			t.Errorf("Options() for REDIS_ADDR=%q: network %q, addr %q; want %q, %q", in, o.Network, o.Addr, want[0], want[1])
		}
	}
}
