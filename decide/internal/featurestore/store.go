package featurestore

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Defaults of Config.
const (
	DefaultPrefix      = "streamsafe:fs:"
	DefaultUserTTL     = 24 * time.Hour
	DefaultWindowTTL   = 2 * time.Minute
	DefaultSnapshotTTL = 2 * time.Minute
	DefaultMarkTTL     = 10 * time.Minute
	DefaultRaidWindow  = 5 * time.Minute
	DefaultMaxRecent   = 64
	DefaultTimeout     = 20 * time.Millisecond
)

// ErrInvalidConfig is wrapped by Config.Validate's errors.
var ErrInvalidConfig = errors.New("featurestore: invalid config")

// Config configures a Store.
type Config struct {
	// Prefix starts every key the store writes.
	Prefix string
	// UserTTL bounds how long a (channel, user) history lives after the
	// user's last message or action (refreshed on every write).
	UserTTL time.Duration
	// WindowTTL bounds the velocity and copypasta buckets and the recent-
	// message sets; it must cover the 60 s windows.
	WindowTTL time.Duration
	// SnapshotTTL is how long a message's snapshot is kept to make a retried
	// batch idempotent (see Snapshots).
	SnapshotTTL time.Duration
	// MarkTTL is how long an action of this system is remembered to tell its
	// echo on the mod stream from a human moderator's action.
	MarkTTL time.Duration
	// RaidWindow is how long after a raid event (by message time) raid mode
	// is active.
	RaidWindow time.Duration
	// RaidVelocity10s also turns raid mode on when the channel had at least
	// this many messages in the last 10 s; 0 disables it.
	RaidVelocity10s int
	// MaxRecent caps the recent-message times kept per user, so
	// user_msgs_10s/60s saturate at MaxRecent.
	MaxRecent int
	// Timeout bounds one round trip (one script call).
	Timeout time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Prefix: DefaultPrefix, UserTTL: DefaultUserTTL, WindowTTL: DefaultWindowTTL, SnapshotTTL: DefaultSnapshotTTL,
		MarkTTL: DefaultMarkTTL, RaidWindow: DefaultRaidWindow, MaxRecent: DefaultMaxRecent, Timeout: DefaultTimeout,
	}
}

// Validate reports unusable settings.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...))
	}
	if c.Prefix == "" {
		bad("prefix must not be empty")
	}
	if c.WindowTTL < 61*time.Second {
		bad("window TTL %s must cover the 60 s windows (>= 61s)", c.WindowTTL)
	}
	if c.UserTTL < time.Second || c.SnapshotTTL < time.Second || c.MarkTTL < time.Second {
		bad("user, snapshot and mark TTLs must be >= 1s")
	}
	if c.RaidWindow < time.Millisecond || c.RaidVelocity10s < 0 {
		bad("raid window must be > 0 and raid velocity >= 0")
	}
	if c.MaxRecent < 1 || c.Timeout <= 0 {
		bad("max recent must be >= 1 and timeout > 0")
	}
	return errors.Join(errs...)
}

var (
	//go:embed snapshot.lua
	snapshotSrc string
	//go:embed sys.lua
	sysSrc string
	//go:embed mod.lua
	modSrc string
)

// Store is the Redis feature store. It is safe for concurrent use.
type Store struct {
	rdb  redis.Scripter
	cfg  Config
	snap *redis.Script
	sys  *redis.Script
	mod  *redis.Script
	head []any // constant leading ARGV of snapshot.lua
}

// New returns a Store on rdb (use a client with ContextTimeoutEnabled, so
// Config.Timeout bounds the socket I/O too).
func New(rdb redis.Scripter, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{rdb: rdb, cfg: cfg, snap: redis.NewScript(snapshotSrc), sys: redis.NewScript(sysSrc), mod: redis.NewScript(modSrc)}
	s.head = []any{cfg.Prefix, secs(cfg.UserTTL), secs(cfg.WindowTTL), secs(cfg.SnapshotTTL),
		cfg.RaidWindow.Milliseconds(), cfg.RaidVelocity10s, cfg.MaxRecent}
	return s, nil
}

// Config returns the store's configuration.
func (s *Store) Config() Config { return s.cfg }

func secs(d time.Duration) int64 { return max(int64(d/time.Second), 1) }

// Load loads the scripts into the Redis script cache (SCRIPT LOAD), so calls
// are EVALSHA. A Redis that lost its cache (restart) gets the script again
// through EVAL on NOSCRIPT, transparently.
func (s *Store) Load(ctx context.Context) error {
	for _, sc := range []*redis.Script{s.snap, s.sys, s.mod} {
		cctx, cancel := context.WithTimeout(ctx, max(s.cfg.Timeout, time.Second))
		err := sc.Load(cctx, s.rdb).Err()
		cancel()
		if err != nil {
			return fmt.Errorf("load feature-store script: %w", err)
		}
	}
	return nil
}

// Msg is what the store needs of one chat message.
type Msg struct {
	Channel string
	UserID  string
	Login   string
	MsgID   string
	TsMs    int64  // the message's time (decision clock), Unix ms
	Hash    uint64 // normalised-text hash; 0 = none (no copypasta tracking)
}

// Snapshots reads and updates the store for msgs in ONE round trip (one
// EVALSHA of snapshot.lua) and writes each message's Snapshot as it was
// before that message into out[i] (len(out) >= len(msgs)). Messages of the
// batch see the earlier ones of the same batch.
//
// Idempotency: each message's snapshot is cached under its msg id for
// Config.SnapshotTTL; a message seen again within that time (a batch retried
// after a failed decision write, or a duplicated message) gets the cached
// snapshot and is not counted twice. After the TTL a retried message is
// counted again and its snapshot includes itself; that is the residual risk.
//
// On error the store may or may not have been updated (a timeout can strike
// after the script ran); out is left unchanged.
func (s *Store) Snapshots(ctx context.Context, msgs []Msg, out []features.Snapshot) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(out) < len(msgs) {
		return fmt.Errorf("read snapshots: out has %d slots for %d messages", len(out), len(msgs))
	}
	args := make([]any, 0, len(s.head)+1+6*len(msgs))
	args = append(args, s.head...)
	args = append(args, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		args = append(args, m.Channel, m.UserID, m.Login, m.MsgID, m.TsMs, hashArg(m.Hash))
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res, err := s.snap.Run(cctx, s.rdb, nil, args...).StringSlice()
	if err != nil {
		return fmt.Errorf("read snapshots of %d messages: %w", len(msgs), err)
	}
	if len(res) != len(msgs) {
		return fmt.Errorf("read snapshots: got %d for %d messages", len(res), len(msgs))
	}
	for i, r := range res {
		var row [event.DecisionSnapshotLen]int64
		if err := parseRow(r, &row); err != nil {
			return fmt.Errorf("read snapshot of message %q: %w", msgs[i].MsgID, err)
		}
		out[i] = Unpack(&row)
	}
	return nil
}

// SysAction is one action this system executed.
type SysAction struct {
	Channel, UserID, MsgID string
	Kind                   event.ActionKind // Warn, Delete or Timeout; others are skipped
	TsMs                   int64            // the decision's time (event_time_ms)
}

// ApplySys records executed actions in their authors' history (sys counters
// and last-action times) in one round trip. Each action counts once per msg
// id, so a retry is harmless. It returns how many were newly applied.
func (s *Store) ApplySys(ctx context.Context, acts []SysAction) (int, error) {
	args := make([]any, 0, 4+5*len(acts))
	args = append(args, s.cfg.Prefix, secs(s.cfg.UserTTL), secs(s.cfg.MarkTTL), 0)
	n := 0
	for _, a := range acts {
		var k string
		switch a.Kind {
		case event.Warn:
			k = "W"
		case event.Delete:
			k = "D"
		case event.Timeout:
			k = "T"
		default:
			continue
		}
		args = append(args, a.Channel, a.UserID, a.MsgID, k, a.TsMs)
		n++
	}
	if n == 0 {
		return 0, nil
	}
	args[3] = n
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	applied, err := s.sys.Run(cctx, s.rdb, nil, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("apply %d system actions: %w", n, err)
	}
	return applied, nil
}

// ModEvent is one mod-stream event, identified by its stream entry id.
type ModEvent struct {
	EntryID      string
	Kind         event.ModKind
	Channel      string
	TargetUserID string
	TargetLogin  string
	TargetMsgID  string
	TsMs         int64
}

// ApplyMod applies moderator and channel events (see mod.lua) in one round
// trip, each once per entry id. It returns how many were newly applied.
func (s *Store) ApplyMod(ctx context.Context, evs []ModEvent) (int, error) {
	if len(evs) == 0 {
		return 0, nil
	}
	raidTTL := secs(s.cfg.RaidWindow) + 60
	args := make([]any, 0, 4+7*len(evs))
	args = append(args, s.cfg.Prefix, secs(s.cfg.UserTTL), raidTTL, len(evs))
	for _, e := range evs {
		args = append(args, e.EntryID, string(e.Kind), e.Channel, e.TargetUserID, e.TargetLogin, e.TargetMsgID, e.TsMs)
	}
	cctx, cancel := context.WithTimeout(ctx, max(s.cfg.Timeout, 100*time.Millisecond))
	defer cancel()
	applied, err := s.mod.Run(cctx, s.rdb, nil, args...).Int()
	if err != nil {
		return 0, fmt.Errorf("apply %d mod events: %w", len(evs), err)
	}
	return applied, nil
}

// IsTimeout reports whether err is a timeout (context deadline or network
// timeout) rather than another failure.
func IsTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func hashArg(h uint64) string {
	if h == 0 {
		return "0"
	}
	return strconv.FormatUint(h, 16)
}

// parseRow parses the script's CSV of DecisionSnapshotLen integers.
func parseRow(s string, row *[event.DecisionSnapshotLen]int64) error {
	i := 0
	start := 0
	for j := 0; j <= len(s); j++ {
		if j < len(s) && s[j] != ',' {
			continue
		}
		if i >= len(row) {
			return fmt.Errorf("more than %d values in %q", len(row), s)
		}
		n, err := strconv.ParseInt(s[start:j], 10, 64)
		if err != nil {
			return fmt.Errorf("parse snapshot value %d: %w", i, err)
		}
		row[i] = n
		i++
		start = j + 1
	}
	if i != len(row) {
		return fmt.Errorf("%d values in %q, want %d", i, s, len(row))
	}
	return nil
}
