// Package config loads a service's configuration from the environment with
// github.com/kelseyhightower/envconfig, validates it, and keeps secrets out of
// logs. Every service has one Config struct whose fields carry their defaults
// in tags; a field tagged `envconfig:"X"` is read from PREFIX_X and falls back
// to the bare X, so one REDIS_ADDR can serve every service.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/redis/go-redis/v9"
)

// Validator is implemented by configs that check themselves after loading.
type Validator interface {
	Validate() error
}

// FieldError names the environment variable whose value is wrong.
type FieldError struct {
	Var string // environment variable, e.g. INGEST_MAX_LINE_BYTES
	Msg string
}

func (e *FieldError) Error() string { return e.Var + ": " + e.Msg }

// Errorf returns a *FieldError for variable v.
func Errorf(v, format string, args ...any) error {
	return &FieldError{Var: v, Msg: fmt.Sprintf(format, args...)}
}

// Load fills c (a pointer to a struct) from the environment using prefix and
// then calls its Validate method, if any.
func Load(prefix string, c any) error {
	if err := envconfig.Process(prefix, c); err != nil {
		return fmt.Errorf("load %s config: %w", strings.ToLower(prefix), err)
	}
	if v, ok := c.(Validator); ok {
		if err := v.Validate(); err != nil {
			return fmt.Errorf("validate %s config: %w", strings.ToLower(prefix), err)
		}
	}
	return nil
}

// Secret is a string that never prints: String, GoString, JSON and slog all
// show "[redacted]" (or "" when empty). Use Reveal to get the value.
type Secret struct{ v string }

// NewSecret wraps s.
func NewSecret(s string) Secret { return Secret{v: s} }

// Decode implements envconfig.Decoder.
func (s *Secret) Decode(v string) error { s.v = v; return nil }

// Reveal returns the secret value.
func (s Secret) Reveal() string { return s.v }

// Empty reports whether no secret is set.
func (s Secret) Empty() bool { return s.v == "" }

func (s Secret) String() string {
	if s.v == "" {
		return ""
	}
	return "[redacted]"
}

// GoString hides the value from %#v.
func (s Secret) GoString() string { return s.String() }

// MarshalText hides the value from encoders.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ResolveFile sets *s from the contents of file (trailing newline removed)
// when file is non-empty and *s is empty. envVar names the variable in errors.
func (s *Secret) ResolveFile(file, envVar string) error {
	if file == "" || s.v != "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return Errorf(envVar, "read secret file: %v", err)
	}
	s.v = strings.TrimRight(string(b), "\r\n")
	if s.v == "" {
		return Errorf(envVar, "secret file %s is empty", file)
	}
	return nil
}

// Redis is the connection configuration of a Redis instance.
type Redis struct {
	Addr         string        `envconfig:"REDIS_ADDR" default:"127.0.0.1:6379" desc:"Redis host:port, or a Unix socket as unix:/path (or /path) for a Redis on the same host"`
	Password     Secret        `envconfig:"REDIS_PASSWORD" desc:"Redis password (optional)"`
	DB           int           `envconfig:"REDIS_DB" default:"0" desc:"Redis database number"`
	DialTimeout  time.Duration `envconfig:"REDIS_DIAL_TIMEOUT" default:"2s" desc:"Redis connect timeout"`
	ReadTimeout  time.Duration `envconfig:"REDIS_READ_TIMEOUT" default:"3s" desc:"Redis read timeout (blocking reads add their block time)"`
	WriteTimeout time.Duration `envconfig:"REDIS_WRITE_TIMEOUT" default:"3s" desc:"Redis write timeout"`
	PoolSize     int           `envconfig:"REDIS_POOL_SIZE" default:"0" desc:"connection pool size (0 = go-redis default)"`
}

// Validate checks the Redis settings.
func (r Redis) Validate() error {
	var errs []error
	if r.Addr == "" {
		errs = append(errs, Errorf("REDIS_ADDR", "must not be empty"))
	}
	if r.DB < 0 {
		errs = append(errs, Errorf("REDIS_DB", "must be >= 0, got %d", r.DB))
	}
	if r.DialTimeout <= 0 || r.ReadTimeout <= 0 || r.WriteTimeout <= 0 {
		errs = append(errs, Errorf("REDIS_*_TIMEOUT", "timeouts must be > 0"))
	}
	return errors.Join(errs...)
}

// RedisNetwork splits a Redis address into go-redis's Network and Addr: a
// Unix socket for "unix:/path", "unix:///path" or "/path", TCP otherwise.
func RedisNetwork(addr string) (network, address string) {
	if rest, ok := strings.CutPrefix(addr, "unix:"); ok {
		if p, ok := strings.CutPrefix(rest, "//"); ok {
			rest = p
		}
		return "unix", rest
	}
	if strings.HasPrefix(addr, "/") {
		return "unix", addr
	}
	return "tcp", addr
}

// Options returns go-redis client options for r.
func (r Redis) Options() *redis.Options {
	network, addr := RedisNetwork(r.Addr)
	return &redis.Options{
		Network:      network,
		Addr:         addr,
		Password:     r.Password.Reveal(),
		DB:           r.DB,
		DialTimeout:  r.DialTimeout,
		ReadTimeout:  r.ReadTimeout,
		WriteTimeout: r.WriteTimeout,
		PoolSize:     r.PoolSize,
		// Streams workloads pipeline heavily; keep identification quiet.
		DisableIdentity: true,
	}
}
