package twitchsim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

type modFakeSink struct {
	mu     sync.Mutex
	events []event.Mod
}

func (s *modFakeSink) Publish(_ context.Context, evs []event.Mod) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, evs...)
	return nil
}

func (s *modFakeSink) all() []event.Mod {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]event.Mod(nil), s.events...)
}

type modEnv struct {
	*hxEnv
	m    *Moderators
	sink *modFakeSink
}

func newModEnv(t *testing.T, mutate func(*ModeratorsConfig)) *modEnv {
	t.Helper()
	e := newHxEnv(t, nil)
	cfg := DefaultModeratorsConfig()
	cfg.MissShare, cfg.TimeoutShare, cfg.ReverseShare = 1, 1, 1
	if mutate != nil {
		mutate(&cfg)
	}
	sink := &modFakeSink{}
	m, err := NewModerators(cfg, e.h, sink)
	if err != nil {
		t.Fatalf("NewModerators() = %v", err)
	}
	return &modEnv{hxEnv: e, m: m, sink: sink}
}

// msg returns a message of user in hxRoom sent at the env's current time,
// registered in the fake directory so Helix can delete it.
func (e *modEnv) msg(id, user string, abusive bool) TruthRecord {
	r := TruthRecord{
		MsgID: id, Channel: "simchan0", RoomID: hxRoom, UserID: user, Login: "login" + user,
		Persona: "viewer", Abusive: abusive, TmiSentTs: e.clock.Now().UnixMilli(), Text: "text of " + id,
	}
	e.chat.mu.Lock()
	e.chat.messages[id] = r
	e.chat.mu.Unlock()
	return r
}

func (e *modEnv) tick(t *testing.T) {
	t.Helper()
	if err := e.m.Tick(context.Background(), e.clock.Now()); err != nil {
		t.Fatalf("Tick() = %v", err)
	}
}

func modActionKeys(as []HelixAction) string {
	var b []string
	for _, a := range as {
		b = append(b, fmt.Sprintf("%s:%s:%s", a.Kind, a.UserID, a.MsgID))
	}
	return strings.Join(b, ",")
}

func TestModerators_ActOnMissedAbuse(t *testing.T) {
	tests := []struct {
		name         string
		timeoutShare float64
		missShare    float64
		system       string // system action before the delay: "", "timeout", "delete", "warn"
		want         string // human actions
		wantMissed   int64
	}{
		{"missed_timeout", 1, 1, "", "timeout:555:m-1", 1},
		{"missed_delete", 0, 1, "", "delete:555:m-1", 1},
		{"missed_but_share_zero", 1, 0, "", "", 1},
		{"system_timed_out_author", 1, 1, "timeout", "", 0},
		{"system_deleted_message", 1, 1, "delete", "", 0},
		{"system_warned_author", 1, 1, "warn", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newModEnv(t, func(c *ModeratorsConfig) { c.TimeoutShare, c.MissShare = tt.timeoutShare, tt.missShare })
			e.m.Observe(e.msg("m-1", "555", true))
			e.m.Observe(e.msg("m-2", "556", false))
			e.clock.Advance(time.Second)
			switch tt.system {
			case "timeout":
				e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 60), nil)
			case "delete":
				e.do(t, "DELETE", "/moderation/chat"+hxQ+"&message_id=m-1", "", nil)
			case "warn":
				e.do(t, "POST", "/moderation/warnings"+hxQ, `{"data":{"user_id":"555","reason":"x"}}`, nil)
			}
			e.tick(t)
			e.clock.Advance(DefaultModMissDelay - 2*time.Second)
			e.tick(t)
			if got := modActionKeys(e.m.Actions()); got != "" {
				t.Fatalf("Actions() before MissDelay = %s, want none", got)
			}
			e.clock.Advance(time.Second)
			e.tick(t)
			if got := modActionKeys(e.m.Actions()); got != tt.want {
				t.Errorf("Actions() = %q, want %q", got, tt.want)
			}
			if st := e.m.Stats(); st.Missed != tt.wantMissed || st.Observed != 2 || st.Abusive != 1 {
				t.Errorf("Stats() = %+v, want Missed %d, Observed 2, Abusive 1", st, tt.wantMissed)
			}
			e.chat.mu.Lock()
			defer e.chat.mu.Unlock()
			switch tt.want {
			case "timeout:555:m-1":
				if n := len(e.chat.clears); n != 1 || e.chat.clears[0].UserID != "555" || e.chat.clears[0].Duration != DefaultModTimeoutS*time.Second {
					t.Errorf("ClearChat calls = %+v, want one 600s timeout of 555", e.chat.clears)
				}
				if !e.h.Banned(hxRoom, "555") {
					t.Errorf("Banned(555) after a human timeout = false, want true")
				}
			case "delete:555:m-1":
				if len(e.chat.msgs) != 1 || e.chat.msgs[0] != "simchan0/m-1" {
					t.Errorf("ClearMsg calls = %v, want [simchan0/m-1]", e.chat.msgs)
				}
			}
			if len(e.sink.all()) != 0 {
				t.Errorf("published %v, want nothing (human timeouts and deletes reach the stream through IRC)", e.sink.all())
			}
		})
	}
}

func TestModerators_ReverseWrongTimeout(t *testing.T) {
	tests := []struct {
		name       string
		abusive    bool // the author's message before the timeout
		duration   int
		want       int // published reversals
		wantWrong  int64
		wantBanned bool
	}{
		{"wrong_timeout_lifted", false, 600, 1, 1, false},
		{"justified_timeout_kept", true, 600, 0, 0, true},
		{"wrong_but_expired", false, 10, 0, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newModEnv(t, nil)
			e.m.Observe(e.msg("m-1", "555", tt.abusive))
			e.clock.Advance(2 * time.Second)
			if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", tt.duration), nil); r.status != 200 {
				t.Fatalf("system timeout = %d", r.status)
			}
			e.tick(t)
			e.clock.Advance(DefaultModReverseDelay - time.Second)
			e.tick(t)
			if n := len(e.sink.all()); n != 0 {
				t.Fatalf("published %d events before ReverseDelay, want 0", n)
			}
			e.clock.Advance(time.Second)
			e.tick(t)
			evs := e.sink.all()
			if len(evs) != tt.want {
				t.Fatalf("published %+v, want %d events", evs, tt.want)
			}
			if tt.want == 1 {
				want := event.Mod{
					Kind: event.ModUntimeout, Source: "sim", RoomID: hxRoom, Channel: "simchan0",
					TargetUserID: "555", TargetLogin: "login555", ModeratorLogin: DefaultModLogin,
					TmiSentTsMs: e.clock.Now().UnixMilli(), ReceivedAtUs: e.clock.Now().UnixMicro(),
				}
				if evs[0] != want {
					t.Errorf("event = %+v, want %+v", evs[0], want)
				}
			}
			if got := e.h.Banned(hxRoom, "555"); got != tt.wantBanned {
				t.Errorf("Banned(555) = %t, want %t", got, tt.wantBanned)
			}
			if st := e.m.Stats(); st.WrongBans != tt.wantWrong || st.Reversed != int64(tt.want) {
				t.Errorf("Stats() = %+v, want WrongBans %d, Reversed %d", st, tt.wantWrong, tt.want)
			}
		})
	}
}

func TestModerators_WrongDeleteCounted(t *testing.T) {
	e := newModEnv(t, nil)
	e.m.Observe(e.msg("m-1", "555", false))
	e.tick(t)
	e.do(t, "DELETE", "/moderation/chat"+hxQ+"&message_id=m-1", "", nil)
	e.clock.Advance(time.Minute)
	e.tick(t)
	if st := e.m.Stats(); st.WrongDeletes != 1 || st.Reversed != 0 {
		t.Errorf("Stats() = %+v, want WrongDeletes 1 and no reversal", st)
	}
}

// TestModerators_Deterministic checks that the same seed picks the same
// messages, whatever the tick cadence, and that the share is respected.
func TestModerators_Deterministic(t *testing.T) {
	run := func(seed uint64, tickEvery time.Duration) (string, int) {
		e := newModEnv(t, func(c *ModeratorsConfig) { c.Seed, c.MissShare, c.TimeoutShare = seed, 0.5, 0.5 })
		for i := range 200 {
			e.m.Observe(e.msg(fmt.Sprintf("m-%03d", i), fmt.Sprintf("%d", 1000+i), true))
			e.clock.Advance(100 * time.Millisecond)
			if i%int(tickEvery/(100*time.Millisecond)) == 0 {
				e.tick(t)
			}
		}
		e.clock.Advance(DefaultModMissDelay)
		e.tick(t)
		var ids []string
		for _, a := range e.m.Actions() {
			ids = append(ids, string(a.Kind)+a.MsgID)
		}
		return strings.Join(ids, ","), len(ids)
	}
	a, n := run(3, time.Second)
	b, _ := run(3, 5*time.Second)
	c, _ := run(4, time.Second)
	if a != b {
		t.Errorf("same seed, different tick cadence: %s vs %s", a, b)
	}
	if a == c {
		t.Errorf("seeds 3 and 4 chose the same actions")
	}
	if n < 70 || n > 130 {
		t.Errorf("%d of 200 missed messages acted on with MissShare 0.5, want about 100", n)
	}
}

func TestRedisModSink_Publish(t *testing.T) {
	addr := redistest.Start(t)
	sink := NewRedisModSink(addr, "test:mod")
	defer sink.Close()
	in := event.Mod{Kind: event.ModUnban, Source: "sim", RoomID: "100", Channel: "simchan0", TargetUserID: "5", TargetLogin: "u5", ModeratorLogin: "m", TmiSentTsMs: 1, ReceivedAtUs: 2}
	if err := sink.Publish(context.Background(), []event.Mod{in, in}); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	msgs, err := rdb.XRange(context.Background(), "test:mod", "-", "+").Result()
	if err != nil || len(msgs) != 2 {
		t.Fatalf("XRANGE = %d entries, %v; want 2", len(msgs), err)
	}
	got, err := event.DecodeMod(msgs[0].Values)
	if err != nil || got != in {
		t.Errorf("DecodeMod = %+v, %v; want %+v", got, err, in)
	}
}

// TestModerators_Prune checks that retained messages are forgotten once
// they cannot matter (max(Lookback, MissDelay) + 1 min) and that judgements
// use only what is left.
func TestModerators_Prune(t *testing.T) {
	e := newModEnv(t, nil)
	retained := func() (users, msgs int) {
		e.m.mu.Lock()
		defer e.m.mu.Unlock()
		for _, u := range e.m.users {
			msgs += len(u.seen)
		}
		if msgs != len(e.m.order) {
			t.Errorf("%d messages in the users' lists, %d in order; want equal", msgs, len(e.m.order))
		}
		return len(e.m.users), msgs
	}
	e.m.Observe(e.msg("m-1", "555", false))
	e.clock.Advance(90 * time.Second)
	m2 := e.msg("m-2", "555", false)
	e.m.Observe(m2)
	e.m.Observe(m2) // observed twice: counted once
	e.m.Observe(e.msg("m-3", "556", false))
	e.tick(t)
	if u, n := retained(); u != 2 || n != 3 {
		t.Errorf("after 90 s: %d users, %d messages retained; want 2, 3", u, n)
	}
	e.clock.Advance(40 * time.Second) // m-1 is 130 s old, past 60 s + 1 min
	e.tick(t)
	if u, n := retained(); u != 2 || n != 2 {
		t.Errorf("after 130 s: %d users, %d messages retained; want 2, 2", u, n)
	}
	e.clock.Advance(2 * time.Minute)
	e.tick(t)
	if u, n := retained(); u != 0 || n != 0 {
		t.Errorf("after 250 s: %d users, %d messages retained; want 0, 0", u, n)
	}
	// 555's messages are older than the lookback: a timeout now is not
	// judged (nothing seen), so it is not reversed.
	if r := e.do(t, "POST", "/moderation/bans"+hxQ, hxTimeoutBody("555", 600), nil); r.status != 200 {
		t.Fatalf("timeout = %d", r.status)
	}
	e.tick(t)
	if st := e.m.Stats(); st.Observed != 3 || st.WrongBans != 0 {
		t.Errorf("Stats() = %+v, want Observed 3, WrongBans 0", st)
	}
}
