package twitchsim

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Human-moderator simulation defaults.
const (
	DefaultModLogin        = "sim_human_mod"
	DefaultModMissShare    = 0.5
	DefaultModMissDelay    = 20 * time.Second
	DefaultModTimeoutShare = 0.5
	DefaultModTimeoutS     = 600
	DefaultModReverseShare = 0.5
	DefaultModReverseDelay = 30 * time.Second
	DefaultModLookback     = 60 * time.Second
	DefaultModMaxInbox     = 100000
)

// ModeratorsConfig configures the simulated human moderators.
type ModeratorsConfig struct {
	// Login is the moderator_login written on reversal events.
	Login string
	// MissShare of the abusive messages the system missed get a human
	// action. A message is missed when, MissDelay after it was sent, the
	// system has neither deleted it nor warned, timed out or banned its
	// author since it was sent.
	MissShare float64
	MissDelay time.Duration
	// TimeoutShare of human actions are timeouts of TimeoutS seconds; the
	// rest delete the message.
	TimeoutShare float64
	TimeoutS     int64
	// ReverseShare of the system's wrong timeouts and bans are lifted
	// ReverseDelay after them. A timeout or ban is wrong when none of its
	// target's messages in the Lookback before it was abusive (and at least
	// one was seen). Wrong deletes and warnings cannot be undone; they are
	// only counted.
	ReverseShare float64
	ReverseDelay time.Duration
	Lookback     time.Duration
	// Seed makes every choice deterministic: each is a hash of the seed and
	// the message id (or action), independent of timing.
	Seed uint64
	// MaxInbox bounds observed messages and actions waiting for Tick.
	MaxInbox int
	// Logger receives debug logs (nil discards).
	Logger *slog.Logger
}

// DefaultModeratorsConfig returns the defaults.
func DefaultModeratorsConfig() ModeratorsConfig {
	return ModeratorsConfig{
		Login:        DefaultModLogin,
		MissShare:    DefaultModMissShare,
		MissDelay:    DefaultModMissDelay,
		TimeoutShare: DefaultModTimeoutShare,
		TimeoutS:     DefaultModTimeoutS,
		ReverseShare: DefaultModReverseShare,
		ReverseDelay: DefaultModReverseDelay,
		Lookback:     DefaultModLookback,
		Seed:         1,
		MaxInbox:     DefaultModMaxInbox,
	}
}

func (c *ModeratorsConfig) validate() error {
	switch {
	case c.Login == "":
		return fmt.Errorf("%w: ModeratorsConfig.Login must not be empty", ErrInvalidConfig)
	case c.MissShare < 0 || c.MissShare > 1 || c.TimeoutShare < 0 || c.TimeoutShare > 1 || c.ReverseShare < 0 || c.ReverseShare > 1:
		return fmt.Errorf("%w: ModeratorsConfig shares must be in 0..1", ErrInvalidConfig)
	case c.MissDelay <= 0 || c.ReverseDelay <= 0 || c.Lookback <= 0:
		return fmt.Errorf("%w: ModeratorsConfig delays must be positive", ErrInvalidConfig)
	case c.TimeoutS < 1 || c.TimeoutS > helixMaxTimeoutS:
		return fmt.Errorf("%w: ModeratorsConfig.TimeoutS must be in 1..%d, got %d", ErrInvalidConfig, helixMaxTimeoutS, c.TimeoutS)
	case c.MaxInbox < 1:
		return fmt.Errorf("%w: ModeratorsConfig.MaxInbox must be >= 1", ErrInvalidConfig)
	}
	return nil
}

// ModSink receives the moderator events that have no IRC message (unban,
// untimeout).
type ModSink interface {
	Publish(ctx context.Context, events []event.Mod) error
}

// RedisModSink XADDs moderator events to a Redis stream.
type RedisModSink struct {
	rdb    redis.UniversalClient
	stream string
}

// NewRedisModSink connects lazily to the Redis at addr and writes to
// streamKey ("" = stream.DefaultMod).
func NewRedisModSink(addr, streamKey string) *RedisModSink {
	if streamKey == "" {
		streamKey = stream.DefaultMod
	}
	return &RedisModSink{rdb: redis.NewClient(&redis.Options{Addr: addr, DisableIdentity: true}), stream: streamKey}
}

// Publish writes events in one pipeline.
func (s *RedisModSink) Publish(ctx context.Context, events []event.Mod) error {
	if len(events) == 0 {
		return nil
	}
	pipe := s.rdb.Pipeline()
	for i := range events {
		pipe.XAdd(ctx, &redis.XAddArgs{Stream: s.stream, Values: events[i].Values(make([]any, 0, 32))})
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("xadd %d moderator events to %s: %w", len(events), s.stream, err)
	}
	return nil
}

// Ping checks that the Redis at addr answers.
func (s *RedisModSink) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("ping redis: %w", err)
	}
	return nil
}

// Close closes the Redis client.
func (s *RedisModSink) Close() error { return s.rdb.Close() }

// ModeratorStats counts what the simulated moderators saw and did.
type ModeratorStats struct {
	Observed      int64 `json:"observed"`       // messages observed
	Abusive       int64 `json:"abusive"`        // abusive messages observed
	Missed        int64 `json:"missed"`         // abusive messages the system did not act on within MissDelay
	HumanTimeouts int64 `json:"human_timeouts"` // timeouts by humans
	HumanDeletes  int64 `json:"human_deletes"`  // deletions by humans
	WrongBans     int64 `json:"wrong_bans"`     // system timeouts/bans judged wrong
	Reversed      int64 `json:"reversed"`       // wrong timeouts/bans lifted (events published)
	WrongDeletes  int64 `json:"wrong_deletes"`  // system deletions of non-abusive messages
	WrongWarns    int64 `json:"wrong_warns"`    // system warnings with no abusive message in the lookback
	InboxDropped  int64 `json:"inbox_dropped"`  // observations dropped because the inbox was full
	PublishErrors int64 `json:"publish_errors"` // failed ModSink.Publish calls
}

// modKey is a user in a channel.
type modKey struct{ room, user string }

// modSeen is one retained message: just enough to judge the actions on
// its author (about 24 bytes, so retention stays small at high rates).
type modSeen struct {
	atMs    int64  // TmiSentTs
	id      uint64 // modHash of the message id
	abusive bool
}

// modUser is what is retained about one user in one channel.
type modUser struct {
	key            modKey
	login, channel string    // of the latest message
	seen           []modSeen // oldest first
}

// modOrder is one retained message in observation order, for pruning.
type modOrder struct {
	u    *modUser
	atMs int64
}

// modMsg is an abusive message waiting for MissDelay.
type modMsg struct {
	rec TruthRecord
	at  time.Time
}

// modHuman is a human action on a missed message.
type modHuman struct {
	a   HelixAction
	rec *TruthRecord
}

type modReversal struct {
	due   time.Time
	a     HelixAction
	login string
	ch    string
}

// Moderators simulates the channel's human moderators. Feed it every
// generated message with Observe; it sees the system's Helix actions through
// the Helix it is attached to. Nothing happens until Tick (or Run), so tests
// drive it with their own clock.
//
// Memory: it keeps every message of the last max(Lookback, MissDelay) plus
// a minute (2 min by default) as about 40 bytes, plus about 200 bytes per
// distinct channel and user in that window, and abusive messages whole
// until MissDelay. Measured with scripts/twitchsim at 60,000 msgs/s over 100
// channels: about 330 bytes of RSS per retained message.
type Moderators struct {
	cfg  ModeratorsConfig
	hx   *Helix
	sink ModSink
	log  *slog.Logger

	// inMu guards the inboxes, filled by Observe and the Helix observer.
	inMu      sync.Mutex
	inMsgs    []TruthRecord
	inSpare   []TruthRecord // the previous inMsgs, emptied by Tick for reuse
	inActs    []HelixAction
	inDropped int64

	// mu guards the state below, used by Tick.
	mu        sync.Mutex
	users     map[modKey]*modUser  // users with retained messages
	order     []modOrder           // all retained messages, oldest first
	pending   []*modMsg            // abusive messages waiting for MissDelay
	sysByMsg  map[string]time.Time // deleted msg id -> time of the system action
	sysByUser map[modKey][]time.Time
	humanBy   map[modKey]time.Time // last human timeout
	reversals []modReversal
	actions   []HelixAction
	stats     ModeratorStats
}

// NewModerators attaches simulated moderators to hx. sink may be nil (no
// reversal events are published; the unban still changes hx's state).
func NewModerators(cfg ModeratorsConfig, hx *Helix, sink ModSink) (*Moderators, error) {
	if hx == nil {
		return nil, fmt.Errorf("%w: NewModerators needs a Helix", ErrInvalidConfig)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m := &Moderators{
		cfg: cfg, hx: hx, sink: sink, log: cfg.Logger,
		users:     map[modKey]*modUser{},
		sysByMsg:  map[string]time.Time{},
		sysByUser: map[modKey][]time.Time{},
		humanBy:   map[modKey]time.Time{},
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	hx.observe(func(a HelixAction) {
		if a.Human {
			return
		}
		m.inMu.Lock()
		if len(m.inActs) < m.cfg.MaxInbox {
			m.inActs = append(m.inActs, a)
		} else {
			m.inDropped++
		}
		m.inMu.Unlock()
	})
	return m, nil
}

// Observe records a generated message. It is safe for concurrent use and
// never blocks for long: it appends to an inbox of at most MaxInbox records
// (further ones are dropped and counted in InboxDropped) under a mutex that
// Tick holds only to swap the inbox. The inbox buffers are reused, so in
// steady state Observe does not allocate. The message is examined on the
// next Tick.
func (m *Moderators) Observe(rec TruthRecord) {
	m.inMu.Lock()
	if len(m.inMsgs) < m.cfg.MaxInbox {
		m.inMsgs = append(m.inMsgs, rec)
	} else {
		m.inDropped++
	}
	m.inMu.Unlock()
}

// Run calls Tick every interval until ctx is done.
func (m *Moderators) Run(ctx context.Context, every time.Duration) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case now := <-t.C:
			if err := m.Tick(ctx, now); err != nil {
				m.log.Warn("simulated moderators", "error", err.Error())
			}
		}
	}
}

// Tick processes what was observed, acts on missed abusive messages whose
// MissDelay has passed by now, lifts wrong timeouts whose ReverseDelay has
// passed, and publishes the reversal events.
func (m *Moderators) Tick(ctx context.Context, now time.Time) error {
	m.inMu.Lock()
	msgs, acts := m.inMsgs, m.inActs
	m.inMsgs, m.inSpare, m.inActs = m.inSpare, nil, nil
	dropped := m.inDropped
	m.inDropped = 0
	m.inMu.Unlock()

	m.mu.Lock()
	m.stats.InboxDropped += dropped
	for i := range msgs {
		m.addMessage(&msgs[i])
	}
	for i := range acts {
		m.addSystemAction(&acts[i])
	}
	human := m.dueMisses(now)
	revs := m.dueReversals(now)
	m.prune(now)
	m.mu.Unlock()

	// Hand the emptied message buffer back to Observe (addMessage copied
	// what it keeps).
	clear(msgs)
	m.inMu.Lock()
	if m.inSpare == nil {
		m.inSpare = msgs[:0]
	}
	m.inMu.Unlock()

	// Act outside m.mu: Helix calls back into the observer.
	var done []HelixAction
	for i := range human {
		if a, ok := m.hx.applyHuman(human[i].a, human[i].rec); ok {
			done = append(done, a)
		}
	}
	var events []event.Mod
	for _, r := range revs {
		a, ok := m.hx.applyHuman(r.a, nil)
		if !ok {
			continue // the timeout ran out, or someone else lifted it
		}
		done = append(done, a)
		events = append(events, event.Mod{
			Kind:           a.Kind,
			Source:         "sim",
			RoomID:         a.BroadcasterID,
			Channel:        r.ch,
			TargetUserID:   a.UserID,
			TargetLogin:    r.login,
			ModeratorLogin: m.cfg.Login,
			TmiSentTsMs:    now.UnixMilli(),
			ReceivedAtUs:   now.UnixMicro(),
		})
		m.log.Debug("simulated moderator lifted a wrong action", "kind", string(a.Kind), "room_id", a.BroadcasterID, "user_id", a.UserID)
	}
	m.mu.Lock()
	m.actions = append(m.actions, done...)
	m.stats.Reversed += int64(len(events))
	m.mu.Unlock()
	if m.sink != nil && len(events) > 0 {
		if err := m.sink.Publish(ctx, events); err != nil {
			m.mu.Lock()
			m.stats.PublishErrors++
			m.mu.Unlock()
			return fmt.Errorf("publish reversals: %w", err)
		}
	}
	return nil
}

// Actions returns what the simulated moderators did, in order.
func (m *Moderators) Actions() []HelixAction {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]HelixAction(nil), m.actions...)
}

// Stats returns the counters.
func (m *Moderators) Stats() ModeratorStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats
}

// modHash is the 64-bit FNV-1a hash of a message id.
func modHash(id string) uint64 {
	x := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		x ^= uint64(id[i])
		x *= 1099511628211
	}
	return x
}

// addMessage stores one observed message; observing the same message twice
// in a row is ignored. Only abusive messages are kept whole. m.mu held.
func (m *Moderators) addMessage(rec *TruthRecord) {
	if rec.MsgID == "" {
		return
	}
	k := modKey{rec.RoomID, rec.UserID}
	u := m.users[k]
	id := modHash(rec.MsgID)
	if u == nil {
		u = &modUser{key: k}
		m.users[k] = u
	} else if n := len(u.seen); n > 0 && u.seen[n-1].id == id {
		return
	}
	u.login, u.channel = rec.Login, rec.Channel
	u.seen = append(u.seen, modSeen{atMs: rec.TmiSentTs, id: id, abusive: rec.Abusive})
	m.order = append(m.order, modOrder{u: u, atMs: rec.TmiSentTs})
	m.stats.Observed++
	if rec.Abusive {
		m.stats.Abusive++
		m.pending = append(m.pending, &modMsg{rec: *rec, at: time.UnixMilli(rec.TmiSentTs)})
	}
}

// addSystemAction records one Helix action of the system and judges it.
// m.mu held.
func (m *Moderators) addSystemAction(a *HelixAction) {
	k := modKey{a.BroadcasterID, a.UserID}
	switch a.Kind {
	case event.ModDelete:
		m.sysByMsg[a.MsgID] = a.At
		if u := m.users[k]; u != nil {
			id := modHash(a.MsgID)
			for _, sm := range u.seen {
				if sm.id == id {
					if !sm.abusive {
						m.stats.WrongDeletes++
					}
					break
				}
			}
		}
		return
	case event.ModWarn:
		m.sysByUser[k] = append(m.sysByUser[k], a.At)
		if m.wrongFor(k, a.At) {
			m.stats.WrongWarns++
		}
		return
	case event.ModTimeout, event.ModBan:
		m.sysByUser[k] = append(m.sysByUser[k], a.At)
	default:
		return
	}
	if !m.wrongFor(k, a.At) {
		return
	}
	m.stats.WrongBans++
	if m.draw("reverse", a.BroadcasterID+"/"+a.UserID+"/"+a.At.UTC().Format(time.RFC3339Nano)) >= m.cfg.ReverseShare {
		return
	}
	var login, ch string
	if u := m.users[k]; u != nil {
		login, ch = u.login, u.channel
	}
	kind := event.ModUntimeout
	if a.Kind == event.ModBan {
		kind = event.ModUnban
	}
	m.reversals = append(m.reversals, modReversal{
		due:   a.At.Add(m.cfg.ReverseDelay),
		a:     HelixAction{Kind: kind, BroadcasterID: a.BroadcasterID, UserID: a.UserID, Reason: "reversed by a human moderator"},
		login: login, ch: ch,
	})
}

// wrongFor reports whether user key k had messages in the lookback before
// at and none of them was abusive. m.mu held.
func (m *Moderators) wrongFor(k modKey, at time.Time) bool {
	u := m.users[k]
	if u == nil {
		return false
	}
	seen := false
	from := at.Add(-m.cfg.Lookback)
	for _, sm := range u.seen {
		if t := time.UnixMilli(sm.atMs); t.After(at) || t.Before(from) {
			continue
		}
		if sm.abusive {
			return false
		}
		seen = true
	}
	return seen
}

// dueMisses returns the human actions for abusive messages whose MissDelay
// has passed without a system action. m.mu held.
func (m *Moderators) dueMisses(now time.Time) []modHuman {
	var out []modHuman
	keep := m.pending[:0]
	for _, mm := range m.pending {
		due := mm.at.Add(m.cfg.MissDelay)
		if due.After(now) {
			keep = append(keep, mm)
			continue
		}
		if m.actedOn(mm, due) {
			continue
		}
		m.stats.Missed++
		id := mm.rec.MsgID
		if m.draw("miss", id) >= m.cfg.MissShare {
			continue
		}
		a := HelixAction{BroadcasterID: mm.rec.RoomID, UserID: mm.rec.UserID, MsgID: id, At: now}
		if m.draw("kind", id) < m.cfg.TimeoutShare {
			a.Kind, a.DurationS = event.ModTimeout, m.cfg.TimeoutS
			m.humanBy[modKey{mm.rec.RoomID, mm.rec.UserID}] = now
			m.stats.HumanTimeouts++
		} else {
			a.Kind = event.ModDelete
			m.stats.HumanDeletes++
		}
		out = append(out, modHuman{a: a, rec: &mm.rec})
	}
	clear(m.pending[len(keep):])
	m.pending = keep
	return out
}

// actedOn reports whether the system acted on mm (or its author) between
// its time and due, or a human timed its author out since. m.mu held.
func (m *Moderators) actedOn(mm *modMsg, due time.Time) bool {
	if t, ok := m.sysByMsg[mm.rec.MsgID]; ok && !t.After(due) {
		return true
	}
	k := modKey{mm.rec.RoomID, mm.rec.UserID}
	for _, t := range m.sysByUser[k] {
		if !t.Before(mm.at) && !t.After(due) {
			return true
		}
	}
	if t, ok := m.humanBy[k]; ok && !t.Before(mm.at) {
		return true
	}
	return false
}

// dueReversals returns the reversals due by now, oldest first. m.mu held.
func (m *Moderators) dueReversals(now time.Time) []modReversal {
	sort.SliceStable(m.reversals, func(i, j int) bool { return m.reversals[i].due.Before(m.reversals[j].due) })
	n := 0
	for n < len(m.reversals) && !m.reversals[n].due.After(now) {
		n++
	}
	out := append([]modReversal(nil), m.reversals[:n]...)
	for i := range out {
		out[i].a.At = now
	}
	m.reversals = append(m.reversals[:0], m.reversals[n:]...)
	return out
}

// prune forgets messages and actions too old to matter: a system action is
// judged against the Lookback before it, a missed message against the
// MissDelay after it, and a minute of slack covers actions judged late.
// (Reversals keep what they need, so ReverseDelay does not count.) m.mu
// held.
func (m *Moderators) prune(now time.Time) {
	keepFor := max(m.cfg.Lookback, m.cfg.MissDelay) + time.Minute
	cut := now.Add(-keepFor)
	n := 0
	for n < len(m.order) && time.UnixMilli(m.order[n].atMs).Before(cut) {
		// Each user's seen list is in observation order too: its front is
		// this message.
		u := m.order[n].u
		if len(u.seen) <= 1 {
			delete(m.users, u.key)
			u.seen = nil
		} else {
			u.seen = u.seen[1:]
		}
		n++
	}
	if n > 0 {
		clear(m.order[:n])
		m.order = m.order[n:]
	}
	for id, t := range m.sysByMsg {
		if t.Before(cut) {
			delete(m.sysByMsg, id)
		}
	}
	for k, ts := range m.sysByUser {
		i := 0
		for i < len(ts) && ts[i].Before(cut) {
			i++
		}
		if i == len(ts) {
			delete(m.sysByUser, k)
		} else if i > 0 {
			m.sysByUser[k] = ts[i:]
		}
	}
	for k, t := range m.humanBy {
		if t.Before(cut) {
			delete(m.humanBy, k)
		}
	}
}

// draw returns a deterministic number in [0, 1) for (seed, salt, key).
func (m *Moderators) draw(salt, key string) float64 {
	x := uint64(14695981039346656037) // FNV-1a
	for _, s := range [2]string{salt, key} {
		for i := 0; i < len(s); i++ {
			x ^= uint64(s[i])
			x *= 1099511628211
		}
		x ^= 0xff
		x *= 1099511628211
	}
	return float64(hxSplitmix(x^m.cfg.Seed*0x9e3779b97f4a7c15)>>11) / (1 << 53)
}
