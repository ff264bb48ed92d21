package featurestore

import (
	"context"
	_ "embed"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
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
	// DefaultTimeoutPerMsg is about twice the script's work per message on
	// a busy 2-core box (BenchmarkSnapshots_Load: 16-25 µs).
	DefaultTimeoutPerMsg = 50 * time.Microsecond
)

// maxMaxRecent bounds Config.MaxRecent (the script unpacks that many values).
const maxMaxRecent = 1000

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
	// SnapshotTTL is how long (in message time) a message's snapshot is
	// kept at least to make a retried batch idempotent (see Snapshots).
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
	// user_msgs_10s/60s saturate at MaxRecent (1..1000).
	MaxRecent int
	// Timeout bounds one round trip (one script call) of a batch of
	// snapshots, plus TimeoutPerMsg for each of its messages: the script's
	// work grows with the batch, so a fixed timeout would fail large
	// batches (a backlog) that are merely big, and the script runs to the
	// end in Redis anyway, so timing it out wastes that work.
	Timeout       time.Duration
	TimeoutPerMsg time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Prefix: DefaultPrefix, UserTTL: DefaultUserTTL, WindowTTL: DefaultWindowTTL, SnapshotTTL: DefaultSnapshotTTL,
		MarkTTL: DefaultMarkTTL, RaidWindow: DefaultRaidWindow, MaxRecent: DefaultMaxRecent, Timeout: DefaultTimeout,
		TimeoutPerMsg: DefaultTimeoutPerMsg,
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
	if c.MaxRecent < 1 || c.MaxRecent > maxMaxRecent || c.Timeout <= 0 || c.TimeoutPerMsg < 0 {
		bad("max recent must be in 1..%d, timeout > 0 and timeout per message >= 0", maxMaxRecent)
	}
	return errors.Join(errs...)
}

var (
	//go:embed user.lua
	userSrc string
	//go:embed snapshot.lua
	snapshotSrc string
	//go:embed sysapply.lua
	sysApplySrc string
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
	head []any     // constant leading ARGV of snapshot.lua
	args sync.Pool // of *snapArgs
}

// New returns a Store on rdb (use a client with ContextTimeoutEnabled, so
// Config.Timeout bounds the socket I/O too).
func New(rdb redis.Scripter, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Store{rdb: rdb, cfg: cfg, snap: script(snapshotSrc), sys: script(sysSrc), mod: script(modSrc)}
	s.head = []any{cfg.Prefix, secs(cfg.UserTTL), secs(cfg.WindowTTL), cfg.SnapshotTTL.Milliseconds(),
		cfg.RaidWindow.Milliseconds(), cfg.RaidVelocity10s, cfg.MaxRecent}
	s.args.New = func() any { return newSnapArgs() }
	return s, nil
}

// script returns a script with the history codec (user.lua) and applySys
// (sysapply.lua) prepended.
func script(src string) *redis.Script {
	return redis.NewScript(userSrc + "\n" + sysApplySrc + "\n" + src)
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
// Idempotency: each message's snapshot is cached under a 64-bit hash of its
// msg id for at least Config.SnapshotTTL of message time (sc:<bucket>); a
// message seen again within that time (a batch retried after a failed
// decision write, a batch re-read or taken over after a crash, or a
// duplicated message) gets the cached snapshot and is not counted twice.
// After that, a retried message is counted again and its snapshot includes
// itself; that is the residual risk. The cache costs about 150 bytes of
// Redis memory per message for 1.25 to 1.5 times SnapshotTTL.
//
// On error the store may or may not have been updated (a timeout can strike
// after the script ran); out is left unchanged.
func (s *Store) Snapshots(ctx context.Context, msgs []Msg, out []features.Snapshot) error {
	return s.SnapshotsSys(ctx, msgs, out, nil)
}

// SnapshotsSys is Snapshots that first applies acts (as ApplySys does) in
// the same round trip, so a batch can take along the actions executed
// since the last one. On error acts may or may not have been applied
// (applying them again is harmless).
func (s *Store) SnapshotsSys(ctx context.Context, msgs []Msg, out []features.Snapshot, acts []SysAction) error {
	if len(msgs) == 0 {
		return nil
	}
	if len(out) < len(msgs) {
		return fmt.Errorf("read snapshots: out has %d slots for %d messages", len(out), len(msgs))
	}
	a := s.args.Get().(*snapArgs)
	defer s.args.Put(a)
	args := a.build(s, msgs, acts)
	cctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout+time.Duration(len(msgs))*s.cfg.TimeoutPerMsg)
	defer cancel()
	res, err := s.snap.Run(cctx, s.rdb, nil, args...).Text()
	clear(a.args) // drop references to the batch's strings
	if err != nil {
		return fmt.Errorf("read snapshots of %d messages: %w", len(msgs), err)
	}
	if len(res) != len(msgs)*snapLen {
		return fmt.Errorf("read snapshots: got %d bytes for %d messages, want %d", len(res), len(msgs), len(msgs)*snapLen)
	}
	for i := range msgs {
		out[i] = decodeSnap(res[i*snapLen:])
	}
	return nil
}

// snapLen is the size of one binary snapshot (snapFmt in user.lua).
const snapLen = 92

// decodeSnap decodes one snapFmt snapshot from the start of b.
func decodeSnap(b string) features.Snapshot {
	i8 := func(o int) int64 {
		var v uint64
		for k := 7; k >= 0; k-- {
			v = v<<8 | uint64(b[o+k])
		}
		return int64(v)
	}
	i4 := func(o int) int32 {
		return int32(uint32(b[o]) | uint32(b[o+1])<<8 | uint32(b[o+2])<<16 | uint32(b[o+3])<<24)
	}
	return features.Snapshot{
		UserMsgCount: i8(0), UserMsgs10s: i4(8), UserMsgs60s: i4(12), FirstSeenMs: i8(16), LastMsgMs: i8(24),
		SameAsLast: i4(32) != 0, SysWarns: i4(36), SysDeletes: i4(40), SysTimeouts: i4(44),
		HumanDeletes: i4(48), HumanTimeouts: i4(52), HumanBans: i4(56), LastSysActionMs: i8(60), LastSysWarnMs: i8(68),
		ChanMsgs10s: i4(76), ChanMsgs60s: i4(80), RaidActive: i4(84) != 0, DupCount60s: i4(88),
	}
}

// maxLogin caps the login bytes a history keeps (Twitch logins have at most 25).
const maxLogin = 255

// snapArgs builds the ARGV of snapshot.lua; it is reused through Store.args.
type snapArgs struct {
	args    []any
	blob    []byte
	users   map[userKey]int // slot (1-based) of each (channel, user)
	dups    map[dupKey]int
	chans   map[string]int
	ufields []any // history fields ("<channel>:<user_id>") by user slot
	names   []any // channel names by channel slot
	rkeys   []any // raid keys by channel slot
	dfields []any // copypasta fields by slot
}

type userKey struct{ ch, user string }

type dupKey struct {
	ch   string
	hash uint64
}

func newSnapArgs() *snapArgs {
	return &snapArgs{users: map[userKey]int{}, dups: map[dupKey]int{}, chans: map[string]int{}}
}

// build returns the ARGV for msgs (valid until the next build).
func (a *snapArgs) build(s *Store, msgs []Msg, acts []SysAction) []any {
	clear(a.users)
	clear(a.dups)
	clear(a.chans)
	a.ufields, a.names, a.rkeys, a.dfields = a.ufields[:0], a.names[:0], a.rkeys[:0], a.dfields[:0]
	a.blob = a.blob[:0]
	p := s.cfg.Prefix
	for i := range msgs {
		m := &msgs[i]
		c, ok := a.chans[m.Channel]
		if !ok {
			c = len(a.chans) + 1
			a.chans[m.Channel] = c
			a.names = append(a.names, m.Channel)
			a.rkeys = append(a.rkeys, p+"raid:"+m.Channel)
		}
		u, ok := a.users[userKey{m.Channel, m.UserID}]
		if !ok {
			u = len(a.users) + 1
			a.users[userKey{m.Channel, m.UserID}] = u
			a.ufields = append(a.ufields, m.Channel+":"+m.UserID)
		}
		d := 0
		if m.Hash != 0 {
			if d, ok = a.dups[dupKey{m.Channel, m.Hash}]; !ok {
				d = len(a.dups) + 1
				a.dups[dupKey{m.Channel, m.Hash}] = d
				a.dfields = append(a.dfields, m.Channel+":"+hashArg(m.Hash))
			}
		}
		login := m.Login
		if len(login) > maxLogin {
			login = login[:maxLogin]
		}
		b := a.blob
		b = binary.LittleEndian.AppendUint64(b, uint64(m.TsMs))
		b = binary.LittleEndian.AppendUint32(b, uint32(u))
		b = binary.LittleEndian.AppendUint32(b, uint32(d))
		b = binary.LittleEndian.AppendUint32(b, uint32(c))
		b = binary.LittleEndian.AppendUint64(b, msgIDHash(m.MsgID))
		b = binary.LittleEndian.AppendUint64(b, m.Hash)
		b = binary.LittleEndian.AppendUint16(b, uint16(len(login)))
		a.blob = append(b, login...)
	}
	args := append(a.args[:0], s.head...)
	lo, hi := msgs[0].TsMs, msgs[0].TsMs
	for i := range msgs {
		lo, hi = min(lo, msgs[i].TsMs), max(hi, msgs[i].TsMs)
	}
	args = append(args, len(msgs), len(a.ufields), len(a.dfields), len(a.names), floorDiv(lo, 1000), floorDiv(hi, 1000), a.blob)
	args = append(args, a.ufields...)
	args = append(args, a.rkeys...)
	args = append(args, a.dfields...)
	args = append(args, a.names...)
	args = append(args, secs(s.cfg.MarkTTL), 0)
	ns := len(args) - 1
	args, n := appendSys(args, acts)
	args[ns] = n
	a.args = args
	return args
}

// floorDiv is a/b rounded down (Lua's math.floor(a / b) for these values).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// msgIDHash is the 64-bit FNV-1a hash of a msg id, the field of its cached
// snapshot in sc:<bucket> (0 is mapped to 1).
func msgIDHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return max(h, 1)
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
	args, n := appendSys(args, acts)
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

// appendSys appends the actions of a kind the store records (5 values
// each, see sysapply.lua) and returns how many.
func appendSys(args []any, acts []SysAction) ([]any, int) {
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
	return args, n
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
	args := make([]any, 0, 5+8*len(evs))
	args = append(args, s.cfg.Prefix, secs(s.cfg.UserTTL), raidTTL, s.cfg.SnapshotTTL.Milliseconds(), len(evs))
	for _, e := range evs {
		mh := "" // the deleted message's cached snapshot names its author (mod.lua)
		if e.TargetMsgID != "" {
			mh = string(binary.LittleEndian.AppendUint64(nil, msgIDHash(e.TargetMsgID)))
		}
		args = append(args, e.EntryID, string(e.Kind), e.Channel, e.TargetUserID, e.TargetLogin, e.TargetMsgID, mh, e.TsMs)
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
