package featurestore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

const t0 = int64(1_700_000_000_000) // a whole second, and a whole 10 s bucket

func newStore(t testing.TB, mutate ...func(*Config)) (*Store, *redis.Client) {
	t.Helper()
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	cfg := DefaultConfig()
	cfg.Timeout = time.Second // generous for tests on a loaded machine
	for _, m := range mutate {
		m(&cfg)
	}
	s, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, rdb
}

func snaps(t *testing.T, s *Store, msgs ...Msg) []features.Snapshot {
	t.Helper()
	out := make([]features.Snapshot, len(msgs))
	if err := s.Snapshots(context.Background(), msgs, out); err != nil {
		t.Fatalf("Snapshots: %v", err)
	}
	return out
}

var msgSeq int

func msg(ch, user string, ts int64, hash uint64) Msg {
	msgSeq++
	return Msg{Channel: ch, UserID: user, Login: "login" + user, MsgID: fmt.Sprintf("m%d", msgSeq), TsMs: ts, Hash: hash}
}

func TestStore_UserCountersAndWindows(t *testing.T) {
	s, _ := newStore(t)
	got := snaps(t, s,
		msg("c", "u", t0, 1),
		msg("c", "u", t0+1000, 2),
		msg("c", "u", t0+5000, 2),
		msg("c", "u", t0+15000, 3),
		msg("c", "u", t0+61000, 3),
		msg("c", "other", t0+61500, 3),
	)
	want := []features.Snapshot{
		{},
		{UserMsgCount: 1, UserMsgs10s: 1, UserMsgs60s: 1, FirstSeenMs: t0, LastMsgMs: t0},
		{UserMsgCount: 2, UserMsgs10s: 2, UserMsgs60s: 2, FirstSeenMs: t0, LastMsgMs: t0 + 1000, SameAsLast: true},
		// (t0+5000, t0+15000] holds nothing; (t0-45000, t0+15000] holds 3.
		{UserMsgCount: 3, UserMsgs10s: 0, UserMsgs60s: 3, FirstSeenMs: t0, LastMsgMs: t0 + 5000},
		// (t0+1000, t0+61000]: t0+5000 and t0+15000.
		{UserMsgCount: 4, UserMsgs10s: 0, UserMsgs60s: 2, FirstSeenMs: t0, LastMsgMs: t0 + 15000, SameAsLast: true},
		{},
	}
	for i := range want {
		// Channel and copypasta fields are checked in their own tests.
		g := got[i]
		g.ChanMsgs10s, g.ChanMsgs60s, g.DupCount60s = 0, 0, 0
		if g != want[i] {
			t.Errorf("snapshot %d = %+v, want %+v", i, g, want[i])
		}
	}
}

func TestStore_ChannelVelocity(t *testing.T) {
	s, _ := newStore(t)
	var msgs []Msg
	for i := range 5 { // 5 messages at second 0
		msgs = append(msgs, msg("c", fmt.Sprint("u", i), t0+int64(i), 0))
	}
	msgs = append(msgs,
		msg("c", "x", t0+9999, 0),   // second 9: 5 in the last 10 s
		msg("c", "x", t0+10000, 0),  // second 10: second 0 left the 10 s window
		msg("other", "x", t0+10, 0), // another channel
		msg("c", "y", t0+59999, 0),  // second 59: all 7 earlier in 60 s
		msg("c", "y", t0+60000, 0),  // second 60: second 0 left both windows
	)
	got := snaps(t, s, msgs...)
	wantC10 := []int32{0, 1, 2, 3, 4, 5, 1, 0, 0, 1}
	wantC60 := []int32{0, 1, 2, 3, 4, 5, 6, 0, 7, 3}
	for i := range got {
		if got[i].ChanMsgs10s != wantC10[i] || got[i].ChanMsgs60s != wantC60[i] {
			t.Errorf("message %d: chan 10s/60s = %d/%d, want %d/%d", i, got[i].ChanMsgs10s, got[i].ChanMsgs60s, wantC10[i], wantC60[i])
		}
	}
}

func TestStore_Copypasta(t *testing.T) {
	s, _ := newStore(t)
	got := snaps(t, s,
		msg("c", "a", t0, 42),
		msg("c", "b", t0+1000, 42),
		msg("c", "c", t0+2000, 42),
		msg("d", "c", t0+2000, 42),   // other channel
		msg("c", "d", t0+3000, 7),    // other text
		msg("c", "e", t0+3000, 0),    // no hash: not tracked
		msg("c", "f", t0+59000, 42),  // bucket 5 still sees bucket 0
		msg("c", "g", t0+60000, 42),  // bucket 6: bucket 0 dropped
		msg("c", "g", t0+200000, 42), // long after
	)
	want := []int32{0, 1, 2, 0, 0, 0, 3, 1, 0}
	for i := range want {
		if got[i].DupCount60s != want[i] {
			t.Errorf("message %d: dup = %d, want %d", i, got[i].DupCount60s, want[i])
		}
	}
}

func TestStore_IdempotentRetry(t *testing.T) {
	s, _ := newStore(t)
	batch := []Msg{msg("c", "u", t0, 1), msg("c", "u", t0+1, 2), msg("c", "v", t0+2, 2)}
	first := snaps(t, s, batch...)
	again := snaps(t, s, batch...)
	for i := range first {
		if first[i] != again[i] {
			t.Errorf("retry of message %d = %+v, want the first result %+v", i, again[i], first[i])
		}
	}
	next := snaps(t, s, msg("c", "u", t0+3, 9))[0]
	if next.UserMsgCount != 2 || next.ChanMsgs10s != 3 {
		t.Errorf("after a retried batch: user count %d, chan 10s %d; want 2 and 3 (nothing counted twice)", next.UserMsgCount, next.ChanMsgs10s)
	}
	// A message duplicated inside one batch counts once, too.
	d := msg("c", "w", t0+4, 5)
	got := snaps(t, s, d, d)
	if got[0] != got[1] {
		t.Errorf("duplicate in batch: %+v vs %+v, want equal", got[0], got[1])
	}
	if n := snaps(t, s, msg("c", "w", t0+5, 6))[0].UserMsgCount; n != 1 {
		t.Errorf("user count after a duplicated message = %d, want 1", n)
	}
}

func TestStore_MaxRecentBoundsWindows(t *testing.T) {
	s, rdb := newStore(t, func(c *Config) { c.MaxRecent = 8 })
	var msgs []Msg
	for i := range 20 {
		msgs = append(msgs, msg("c", "u", t0+int64(i), 0))
	}
	got := snaps(t, s, msgs...)
	if g := got[19]; g.UserMsgs10s != 8 || g.UserMsgCount != 19 {
		t.Errorf("20th message: 10s %d, count %d; want 8 (capped), 19", g.UserMsgs10s, g.UserMsgCount)
	}
	h := history(t, rdb, "c", "u")
	if len(h.recent) != 8 || h.recent[7] != t0+19 || h.recent[0] != t0+12 {
		t.Errorf("recent times = %v, want the 8 newest (t0+12..t0+19)", h.recent)
	}
}

func TestStore_EveryKeyHasTTL(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	snaps(t, s, msg("c", "u", t0, 1), msg("c", "u", t0+1, 1))
	if _, err := s.ApplySys(ctx, []SysAction{
		{Channel: "c", UserID: "u", MsgID: "a1", Kind: event.Warn, TsMs: t0},
		{Channel: "c", UserID: "u", MsgID: "a2", Kind: event.Delete, TsMs: t0},
		{Channel: "c", UserID: "u", MsgID: "a3", Kind: event.Timeout, TsMs: t0},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyMod(ctx, []ModEvent{
		{EntryID: "1-0", Kind: event.ModRaid, Channel: "c", TsMs: t0},
		{EntryID: "1-1", Kind: event.ModBan, Channel: "c", TargetUserID: "z", TsMs: t0},
	}); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	maxTTL := map[string]time.Duration{
		"uh:": DefaultUserTTL + 21*time.Minute, "vh:": 2 * DefaultWindowTTL, "vs:": 2 * DefaultWindowTTL, "dr:": 2 * DefaultWindowTTL, "sc:": 3 * DefaultSnapshotTTL / 2,
		"raid:": DefaultRaidWindow + time.Minute, "ln:": 2 * DefaultUserTTL,
		"sa:": DefaultUserTTL, "sd:": DefaultMarkTTL, "st:": DefaultMarkTTL, "ma:": DefaultUserTTL,
	}
	seen := map[string]bool{}
	for _, k := range keys {
		rest, ok := strings.CutPrefix(k, DefaultPrefix)
		if !ok {
			t.Errorf("key %q outside the prefix", k)
			continue
		}
		kind := rest[:strings.IndexByte(rest, ':')+1]
		limit, known := maxTTL[kind]
		if !known {
			t.Errorf("key %q of unknown kind %q", k, kind)
			continue
		}
		seen[kind] = true
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil || ttl <= 0 || ttl > limit {
			t.Errorf("TTL(%s) = %v, %v; want in (0, %v]", k, ttl, err, limit)
		}
	}
	for kind := range maxTTL {
		if !seen[kind] {
			t.Errorf("no key of kind %q was written", kind)
		}
	}
}

func TestStore_SysActions(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	snaps(t, s, msg("c", "u", t0, 1))
	acts := []SysAction{
		{Channel: "c", UserID: "u", MsgID: "x1", Kind: event.Warn, TsMs: t0 + 10},
		{Channel: "c", UserID: "u", MsgID: "x2", Kind: event.Delete, TsMs: t0 + 20},
		{Channel: "c", UserID: "u", MsgID: "x3", Kind: event.Timeout, TsMs: t0 + 30},
		{Channel: "c", UserID: "u", MsgID: "x4", Kind: event.Ignore, TsMs: t0 + 40}, // skipped
	}
	n, err := s.ApplySys(ctx, acts)
	if err != nil || n != 3 {
		t.Fatalf("ApplySys = %d, %v; want 3, nil", n, err)
	}
	if n, err := s.ApplySys(ctx, acts); err != nil || n != 0 {
		t.Errorf("ApplySys retried = %d, %v; want 0 (idempotent), nil", n, err)
	}
	g := snaps(t, s, msg("c", "u", t0+100, 2))[0]
	if g.SysWarns != 1 || g.SysDeletes != 1 || g.SysTimeouts != 1 || g.LastSysActionMs != t0+30 || g.LastSysWarnMs != t0+10 {
		t.Errorf("snapshot after actions = %+v, want 1 warn, 1 delete, 1 timeout, last action %d, last warn %d", g, t0+30, t0+10)
	}
}

func TestStore_ModEvents(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.RaidWindow = time.Minute })
	ctx := context.Background()
	first := msg("c", "u", t0, 1)
	snaps(t, s, first) // teaches the store login "loginu" -> "u"
	if _, err := s.ApplySys(ctx, []SysAction{
		{Channel: "c", UserID: "u", MsgID: "ours", Kind: event.Delete, TsMs: t0},
		{Channel: "c", UserID: "u", MsgID: "ours2", Kind: event.Timeout, TsMs: t0},
	}); err != nil {
		t.Fatal(err)
	}
	evs := []ModEvent{
		{EntryID: "1-1", Kind: event.ModDelete, Channel: "c", TargetLogin: "loginu", TargetMsgID: first.MsgID}, // human, by login
		{EntryID: "1-2", Kind: event.ModDelete, Channel: "c", TargetLogin: "loginu", TargetMsgID: "ours"},      // echo of our delete
		{EntryID: "1-3", Kind: event.ModTimeout, Channel: "c", TargetUserID: "u"},                              // echo of our timeout
		{EntryID: "1-4", Kind: event.ModTimeout, Channel: "c", TargetUserID: "u"},                              // human
		{EntryID: "1-5", Kind: event.ModBan, Channel: "c", TargetUserID: "u"},
		{EntryID: "1-6", Kind: event.ModBan, Channel: "c", TargetUserID: "u"},
		{EntryID: "1-7", Kind: event.ModUnban, Channel: "c", TargetUserID: "u"},
		{EntryID: "1-8", Kind: event.ModUntimeout, Channel: "c", TargetUserID: "nobody"}, // nothing to undo
		{EntryID: "1-9", Kind: event.ModRaid, Channel: "c", TsMs: t0 + 1000},
		{EntryID: "1-10", Kind: event.ModClear, Channel: "c"},
	}
	for i := range evs { // events carry their time (the decider falls back to the receive or read time)
		if evs[i].TsMs == 0 {
			evs[i].TsMs = t0 + 500
		}
	}
	n, err := s.ApplyMod(ctx, evs)
	if err != nil || n != len(evs) {
		t.Fatalf("ApplyMod = %d, %v; want %d, nil", n, err, len(evs))
	}
	if n, err := s.ApplyMod(ctx, evs); err != nil || n != 0 {
		t.Errorf("ApplyMod retried = %d, %v; want 0, nil", n, err)
	}
	got := snaps(t, s,
		msg("c", "u", t0+2000, 2),
		msg("c", "u", t0+1000+59_999, 3),
		msg("c", "u", t0+1000+60_000, 4),
		msg("c", "nobody", t0+1000+60_001, 5),
	)
	g := got[0]
	if g.HumanDeletes != 1 || g.HumanTimeouts != 1 || g.HumanBans != 1 || !g.RaidActive {
		t.Errorf("after mod events: %+v; want 1 human delete, 1 timeout, 1 ban, raid active", g)
	}
	if !got[1].RaidActive || got[2].RaidActive {
		t.Errorf("raid active at +59.999s/+60s = %v/%v, want true/false", got[1].RaidActive, got[2].RaidActive)
	}
	if got[3].HumanTimeouts != 0 {
		t.Errorf("untimeout without a timeout: human timeouts = %d, want 0", got[3].HumanTimeouts)
	}
}

func TestStore_RaidVelocity(t *testing.T) {
	s, _ := newStore(t, func(c *Config) { c.RaidVelocity10s = 3 })
	var msgs []Msg
	for i := range 5 {
		msgs = append(msgs, msg("c", fmt.Sprint(i), t0+int64(i), 0))
	}
	got := snaps(t, s, msgs...)
	for i, g := range got {
		if want := i >= 3; g.RaidActive != want {
			t.Errorf("message %d: raid %v, want %v", i, g.RaidActive, want)
		}
	}
}

func TestStore_Failures(t *testing.T) {
	srv := redistest.StartServer(t, "--enable-debug-command", "yes")
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	defer rdb.Close()
	cfg := DefaultConfig()
	s, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]features.Snapshot, 1)
	m := []Msg{msg("c", "u", t0, 1)}

	// A busy Redis: the call times out.
	blocker := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer blocker.Close()
	done := make(chan struct{})
	go func() {
		if err := blocker.Do(context.Background(), "DEBUG", "SLEEP", "0.3").Err(); err != nil {
			t.Errorf("DEBUG SLEEP: %v", err)
		}
		close(done)
	}()
	time.Sleep(50 * time.Millisecond)
	err = s.Snapshots(context.Background(), m, out)
	if err == nil || !IsTimeout(err) {
		t.Errorf("Snapshots on a busy Redis = %v, want a timeout", err)
	}
	<-done

	srv.Stop()
	err = s.Snapshots(context.Background(), m, out)
	if err == nil || IsTimeout(err) {
		t.Errorf("Snapshots on a stopped Redis = %v, want a non-timeout error", err)
	}
	srv.Restart(t)
	// The restarted Redis has no scripts: Run falls back to EVAL. The pool
	// may need a moment to notice the server is back.
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := s.Snapshots(context.Background(), m, out)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Snapshots after restart = %v, want nil", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPackUnpack(t *testing.T) {
	in := features.Snapshot{UserMsgCount: 1, UserMsgs10s: 2, UserMsgs60s: 3, FirstSeenMs: 4, LastMsgMs: 5, SameAsLast: true,
		SysWarns: 6, SysDeletes: 7, SysTimeouts: 8, HumanDeletes: 9, HumanTimeouts: 10, HumanBans: 11, LastSysActionMs: 12,
		LastSysWarnMs: 13, ChanMsgs10s: 14, ChanMsgs60s: 15, RaidActive: true, DupCount60s: 16}
	var row [event.DecisionSnapshotLen]int64
	Pack(&in, &row)
	if got := Unpack(&row); got != in {
		t.Errorf("Unpack(Pack(x)) = %+v, want %+v", got, in)
	}
	// The order is the one event.DecisionSnapshotNames documents.
	if row[0] != 1 || row[5] != 1 || row[17] != 16 || event.DecisionSnapshotNames[17] != "dup_count_60s" {
		t.Errorf("Pack order = %v, want DecisionSnapshotNames order", row)
	}
}

func TestConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		ok     bool
	}{
		{"defaults", func(*Config) {}, true},
		{"short_window", func(c *Config) { c.WindowTTL = 30 * time.Second }, false},
		{"no_prefix", func(c *Config) { c.Prefix = "" }, false},
		{"zero_timeout", func(c *Config) { c.Timeout = 0 }, false},
		{"negative_timeout_per_msg", func(c *Config) { c.TimeoutPerMsg = -time.Microsecond }, false},
		{"negative_velocity", func(c *Config) { c.RaidVelocity10s = -1 }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mutate(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestStore_TimeoutGrowsWithBatch: a batch's round trip may take
// Timeout plus TimeoutPerMsg per message. A 1 ms timeout fails a batch of
// 2,000 messages (the script alone takes several ms); 1 ms plus 1 ms per
// message lets the same batch through.
func TestStore_TimeoutGrowsWithBatch(t *testing.T) {
	batch := func(first int) []Msg {
		msgs := make([]Msg, 2000)
		for i := range msgs {
			n := first + i
			msgs[i] = Msg{Channel: fmt.Sprint("c", n%50), UserID: fmt.Sprint("u", n), Login: fmt.Sprint("l", n),
				MsgID: fmt.Sprint("m", n), TsMs: t0 + int64(n), Hash: uint64(n%100 + 1)}
		}
		return msgs
	}
	out := make([]features.Snapshot, 2000)
	fixed, _ := newStore(t, func(c *Config) { c.Timeout, c.TimeoutPerMsg = time.Millisecond, 0 })
	err := fixed.Snapshots(context.Background(), batch(0), out)
	if !IsTimeout(err) {
		t.Fatalf("a 1 ms timeout for 2,000 messages: err = %v, want a timeout", err)
	}
	scaled, _ := newStore(t, func(c *Config) { c.Timeout, c.TimeoutPerMsg = time.Millisecond, time.Millisecond })
	if err := scaled.Snapshots(context.Background(), batch(0), out); err != nil {
		t.Fatalf("1 ms + 1 ms per message for 2,000 messages: %v", err)
	}
	if out[1999].UserMsgCount != 0 || out[1999].ChanMsgs60s == 0 {
		t.Errorf("last snapshot %+v: want a new user in a busy channel", out[1999])
	}
}

func BenchmarkSnapshots(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s, _ := newStore(b)
			msgs := make([]Msg, n)
			out := make([]features.Snapshot, n)
			ts := t0
			seq := 0
			b.ReportAllocs()
			for b.Loop() {
				for i := range msgs {
					seq++
					ts += 3
					msgs[i] = Msg{Channel: "chan", UserID: fmt.Sprint("u", seq%500), Login: "l", MsgID: fmt.Sprint("m", seq), TsMs: ts, Hash: uint64(seq % 50)}
				}
				if err := s.Snapshots(context.Background(), msgs, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
		})
	}
}

// BenchmarkSnapshots_Load is BenchmarkSnapshots with a production-like mix
// (what scripts/raid.sh sends): 100 channels, 50,000 users posting in any
// channel, 2,000 distinct texts, 30,000 messages per second of message
// time, Twitch-like ids. redis-us/msg is the Redis server's CPU time per
// message (INFO cpu), the cost that Redis's single thread pays. With
// mix=regulars each channel has its own 500 users instead, so most
// messages come from a user with a few dozen messages in the last minute
// (long histories); the default mix is mostly first messages in a channel.
// mix=actions also hands every batch one executed action per 10 messages
// (of the batch before), as decide does at the load test's action rate.
func BenchmarkSnapshots_Load(b *testing.B) {
	for _, n := range []int{1, 10, 30, 100, 500} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) { benchLoad(b, n, false, 0) })
	}
	b.Run("mix=regulars/batch=100", func(b *testing.B) { benchLoad(b, 100, true, 0) })
	b.Run("mix=actions/batch=100", func(b *testing.B) { benchLoad(b, 100, false, 10) })
}

// BenchmarkSnapshots_Sections is BenchmarkSnapshots_Load/batch=100 with
// snapshot.lua instrumented (sectioned): it reports the time each section
// of the script takes per batch inside Redis (wall time, so run it on a
// quiet machine; each boundary's TIME call adds about a microsecond).
func BenchmarkSnapshots_Sections(b *testing.B) {
	src, err := sectioned(snapshotSrc)
	if err != nil {
		b.Fatal(err)
	}
	rdb := benchLoad(b, 100, false, 0, func(s *Store) { s.snap = script(src) })
	per, err := sectionTimes(rdb)
	if err != nil {
		b.Fatal(err)
	}
	for name, us := range per {
		b.ReportMetric(us, name+"-us/batch")
	}
}

// scriptSections names snapshot.lua's sections by the line each starts
// with (the script's start is the first).
var scriptSections = []struct{ start, name string }{
	{"local P = ARGV[1]", "start"},
	{"-- Snapshot cache: hash sc:", "cache_read"},
	{"-- 1. Read:", "history_read"},
	{"local lateMax", "velocity_read"},
	{"-- Copypasta rings:", "copypasta_read"},
	{"-- Login -> user id", "loop"},
	{"-- 3. Write back", "history_write"},
	{"local vset", "velocity_write"},
	{"local dset", "copypasta_write"},
	{"bucketSave(P .. 'sc:'", "cache_write"},
	{"bucketSave(P .. 'ln:'", "ln_write_reply"},
}

// sectionKey is the hash the sectioned script adds its times to.
const sectionKey = "featurestore:sections"

// sectioned returns src with a TIME call where each of scriptSections
// starts, adding each section's microseconds (and a batch count) to
// sectionKey before it returns. It fails when a section start is missing
// (the script changed: update scriptSections).
func sectioned(src string) (string, error) {
	lines := strings.Split(src, "\n")
	var out []string
	k := 0
	for _, l := range lines {
		if k < len(scriptSections) && strings.HasPrefix(l, scriptSections[k].start) {
			if k == 0 {
				out = append(out,
					"local __acc, __last = {}, nil",
					"local function __mark(name)",
					"  local t = redis.call('TIME')",
					"  local now = t[1] * 1000000 + t[2]",
					"  if name then __acc[#__acc + 1] = name; __acc[#__acc + 1] = now - __last end",
					"  __last = now",
					"end",
					"__mark(nil)")
			} else {
				out = append(out, "__mark('"+scriptSections[k-1].name+"')")
			}
			k++
		}
		if strings.HasPrefix(l, "return table.concat(out)") {
			out = append(out, "local __reply = table.concat(out)",
				"__mark('"+scriptSections[len(scriptSections)-1].name+"')",
				"for __i = 1, #__acc, 2 do redis.call('HINCRBY', '"+sectionKey+"', __acc[__i], __acc[__i + 1]) end",
				"redis.call('HINCRBY', '"+sectionKey+"', 'batches', 1)",
				"return __reply")
			continue
		}
		out = append(out, l)
	}
	if k < len(scriptSections) {
		return "", fmt.Errorf("snapshot.lua has no line starting %q (section %s)", scriptSections[k].start, scriptSections[k].name)
	}
	return strings.Join(out, "\n"), nil
}

// sectionTimes returns the microseconds per batch of each section that the
// sectioned script recorded.
func sectionTimes(rdb *redis.Client) (map[string]float64, error) {
	h, err := rdb.HGetAll(context.Background(), sectionKey).Result()
	if err != nil {
		return nil, fmt.Errorf("read section times: %w", err)
	}
	batches, _ := strconv.ParseFloat(h["batches"], 64)
	if batches == 0 {
		return nil, fmt.Errorf("no batch recorded section times")
	}
	per := map[string]float64{}
	for name, v := range h {
		if name != "batches" {
			us, _ := strconv.ParseFloat(v, 64)
			per[name] = us / batches
		}
	}
	return per, nil
}

// TestSectioned: the sectioned script returns the same snapshots as the
// script itself and records a time for every section.
func TestSectioned(t *testing.T) {
	src, err := sectioned(snapshotSrc)
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := newStore(t)
	timed, rdb := newStore(t)
	timed.snap = script(src)
	msgs := []Msg{msg("c", "a", t0, 1), msg("c", "b", t0+10, 1), msg("d", "a", t0+2000, 2), msg("c", "a", t0-3000, 0)}
	want, got := snaps(t, plain, msgs...), snaps(t, timed, msgs...)
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("message %d: sectioned %+v, script %+v", i, got[i], want[i])
		}
	}
	per, err := sectionTimes(rdb)
	if err != nil {
		t.Fatal(err)
	}
	for _, sec := range scriptSections {
		if _, ok := per[sec.name]; !ok {
			t.Errorf("no time for section %s (have %v)", sec.name, per)
		}
	}
}

// benchLoad runs BenchmarkSnapshots_Load's loop; with every > 0 each batch
// also hands over, as executed actions (SnapshotsSys), every every-th
// message of the batch before (warn, delete or timeout: the
// load test's decisions act on about 10% of messages); change, if any,
// adjusts the store first. It returns the store's Redis client.
func benchLoad(b *testing.B, n int, regulars bool, every int, change ...func(*Store)) *redis.Client {
	s, rdb := newStore(b)
	for _, f := range change {
		f(s)
	}
	msgs := make([]Msg, n)
	out := make([]features.Snapshot, n)
	seq := uint64(0)
	next := func() uint64 { seq++; x := seq * 0x9E3779B97F4A7C15; return x ^ x>>29 }
	var us int64 // message time since t0, µs
	var acts []SysAction
	kinds := []event.ActionKind{event.Warn, event.Delete, event.Timeout}
	c0 := redistest.CPU(b, rdb.Options().Addr)
	b.ReportAllocs()
	for b.Loop() {
		acts = acts[:0]
		for i := 0; every > 0 && i < n; i += every {
			m := msgs[i]
			if m.MsgID != "" {
				acts = append(acts, SysAction{Channel: m.Channel, UserID: m.UserID, MsgID: m.MsgID, Kind: kinds[i/every%3], TsMs: m.TsMs + 5})
			}
		}
		for i := range msgs {
			r := next()
			us += int64(r % 67) // 33 µs on average: 30k msgs/s
			user := r / 100 % 50_000
			if regulars {
				user = r%100*500 + r/100%500 // 500 users of the channel's own
			}
			msgs[i] = Msg{Channel: fmt.Sprint("simchan", r%100), UserID: fmt.Sprint(30_000_000 + user), Login: fmt.Sprint("sneaky_otter", user),
				MsgID: fmt.Sprintf("%08x-0000-4000-8000-%012x", seq>>32, seq), TsMs: t0 + us/1000, Hash: (r>>20%2000 + 1) * 0x9E3779B97F4A7C15}
		}
		if err := s.SnapshotsSys(context.Background(), msgs, out, acts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/msg")
	b.ReportMetric((redistest.CPU(b, rdb.Options().Addr)-c0)*1e6/float64(b.N*n), "redis-us/msg")
	return rdb
}

// TestStore_BatchingDoesNotMatter feeds the same messages (several channels,
// users and texts over three minutes, a few out of order) once as one batch,
// once one by one and once in batches of 7: every snapshot must be the same.
func TestStore_BatchingDoesNotMatter(t *testing.T) {
	var msgs []Msg
	ts := t0
	for i := range 400 {
		ts += int64(i*7919%900) + 1
		m := Msg{Channel: fmt.Sprint("c", i%3), UserID: fmt.Sprint("u", i*31%7), Login: fmt.Sprint("l", i*31%7),
			MsgID: fmt.Sprint("m", i), TsMs: ts, Hash: uint64(i*13%5) * 0x9E3779B97F4A7C15}
		if i%50 == 49 {
			m.TsMs -= 4000 // a late message
		}
		msgs = append(msgs, m)
	}
	run := func(size int) []features.Snapshot {
		s, _ := newStore(t)
		out := make([]features.Snapshot, len(msgs))
		for i := 0; i < len(msgs); i += size {
			j := min(i+size, len(msgs))
			if err := s.Snapshots(context.Background(), msgs[i:j], out[i:j]); err != nil {
				t.Fatalf("Snapshots: %v", err)
			}
		}
		return out
	}
	whole := run(len(msgs))
	for _, size := range []int{1, 7} {
		got := run(size)
		for i := range got {
			if got[i] != whole[i] {
				t.Errorf("batch size %d, message %d: %+v, want %+v (one batch)", size, i, got[i], whole[i])
				break
			}
		}
	}
	// The features really vary (the test is not comparing zeros).
	var chan60, dup, user10 bool
	for _, g := range whole {
		chan60 = chan60 || g.ChanMsgs60s > 10
		dup = dup || g.DupCount60s > 3
		user10 = user10 || g.UserMsgs10s > 0
	}
	if !chan60 || !dup || !user10 {
		t.Errorf("features never set (chan 60s %v, dup %v, user 10s %v)", chan60, dup, user10)
	}
}

// TestStore_LargeBatch passes more keys than one Lua unpack takes.
func TestStore_LargeBatch(t *testing.T) {
	s, _ := newStore(t)
	var msgs []Msg
	for i := range 5000 {
		msgs = append(msgs, Msg{Channel: fmt.Sprint("c", i%1500), UserID: fmt.Sprint("u", i), Login: fmt.Sprint("l", i),
			MsgID: fmt.Sprint("m", i), TsMs: t0 + int64(i), Hash: uint64(i + 1)})
	}
	first := snaps(t, s, msgs...)
	again := snaps(t, s, msgs...)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("retry of message %d = %+v, want %+v", i, again[i], first[i])
		}
	}
	if g := first[4999]; g.ChanMsgs10s != 3 || g.UserMsgCount != 0 {
		t.Errorf("last message: chan 10s %d, user count %d; want 3 (messages 1499, 2999, 4499), 0", g.ChanMsgs10s, g.UserMsgCount)
	}
}

func TestStore_VelocityWindowEdges(t *testing.T) {
	s, _ := newStore(t)
	got := snaps(t, s,
		msg("c", "a", t0, 0),
		msg("c", "a", t0+100, 0),
		msg("c", "b", t0+120_000, 0), // two minutes later: the ring starts over
		msg("c", "b", t0+121_000, 0),
		msg("c", "z", t0+50_000, 0), // more than 60 s older than the newest: not counted
		msg("c", "b", t0+122_000, 0),
	)
	want := []int32{0, 1, 0, 1, 0, 2}
	for i := range want {
		if got[i].ChanMsgs60s != want[i] {
			t.Errorf("message %d: chan 60s = %d, want %d", i, got[i].ChanMsgs60s, want[i])
		}
	}
	// Across batches (the ring is stored, also in the next window bucket).
	if g := snaps(t, s, msg("c", "b", t0+179_000, 0))[0]; g.ChanMsgs60s != 3 {
		t.Errorf("next batch, 57 s later: chan 60s = %d, want 3", g.ChanMsgs60s)
	}
}

func TestStore_SnapshotCacheBounds(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	ttl := DefaultSnapshotTTL.Milliseconds()
	w := ttl / 4 // the cache bucket width
	old := msg("c", "u", t0, 1)
	snaps(t, s, old)
	// Within the snapshot TTL (message time): the retry is served from the cache.
	mid := msg("c", "u", t0+ttl-1, 2)
	snaps(t, s, mid)
	if g := snaps(t, s, old)[0]; g.UserMsgCount != 0 {
		t.Errorf("retry within the TTL: user count %d, want 0 (cached)", g.UserMsgCount)
	}
	// Once a message 5 buckets later is applied, old's bucket is unlinked
	// and a retry counts again (the documented residual risk).
	b0 := t0 / w
	if n, _ := rdb.Exists(ctx, fmt.Sprint(DefaultPrefix, "sc:", b0)).Result(); n != 1 {
		t.Fatalf("cache bucket sc:%d missing before the unlink", b0)
	}
	snaps(t, s, msg("c", "u", (b0+5)*w, 3))
	if n, _ := rdb.Exists(ctx, fmt.Sprint(DefaultPrefix, "sc:", b0)).Result(); n != 0 {
		t.Errorf("cache bucket sc:%d still there after bucket %d was written", b0, b0+5)
	}
	if (b0+5)*w-t0 < ttl {
		t.Errorf("bucket unlinked %d ms after the message, before the snapshot TTL %d ms", (b0+5)*w-t0, ttl)
	}
	if g := snaps(t, s, old)[0]; g.UserMsgCount != 3 {
		t.Errorf("retry after the TTL: user count %d, want 3 (applied again)", g.UserMsgCount)
	}
	// No per-user bound: every message of a burst stays cached.
	var burst []Msg
	for i := range 40 {
		burst = append(burst, msg("c", "v", t0+int64(i), 0))
	}
	snaps(t, s, burst...)
	for _, i := range []int{0, 20, 39} {
		if g := snaps(t, s, burst[i])[0]; g.UserMsgCount != int64(i) {
			t.Errorf("retry of burst message %d: user count %d, want %d (cached)", i, g.UserMsgCount, i)
		}
	}
	if h := history(t, rdb, "c", "v"); h.legacyCached != 0 || h.n != 40 {
		t.Errorf("history: %d messages, %d cached snapshots; want 40 and none (they live in sc:)", h.n, h.legacyCached)
	}
}

// TestStore_ActionsKeepHistory checks that sys.lua and mod.lua rewrite a
// history without losing its recent times or login, and that a retry is
// still served its cached snapshot.
func TestStore_ActionsKeepHistory(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	first := msg("c", "u", t0, 1)
	snaps(t, s, first, msg("c", "u", t0+1000, 2))
	before := history(t, rdb, "c", "u")
	if _, err := s.ApplySys(ctx, []SysAction{{Channel: "c", UserID: "u", MsgID: "a", Kind: event.Warn, TsMs: t0 + 1000}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyMod(ctx, []ModEvent{{EntryID: "9-1", Kind: event.ModBan, Channel: "c", TargetUserID: "u", TsMs: t0 + 2000}}); err != nil {
		t.Fatal(err)
	}
	after := history(t, rdb, "c", "u")
	if after.n != 2 || after.sw != 1 || after.hb != 1 || after.login != before.login ||
		fmt.Sprint(after.recent) != fmt.Sprint(before.recent) {
		t.Errorf("history after a warn and a ban = %+v, want %+v with sw 1, hb 1", after, before)
	}
	if g := snaps(t, s, first)[0]; g.UserMsgCount != 0 || g.SysWarns != 0 {
		t.Errorf("retry after the actions = %+v, want the cached first snapshot", g)
	}
}

// TestStore_LoginMappingLifetime: a CLEARMSG naming only a login finds a
// user who has written twice in the channel while the history lives (one
// to two user TTLs of message time after the last message).
func TestStore_LoginMappingLifetime(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	hour := time.Hour.Milliseconds()
	snaps(t, s, msg("c", "u", t0, 1), msg("c", "u", t0+1000, 2))
	for i, tt := range []struct {
		at   int64
		want int32 // human deletes afterwards
	}{
		{t0 + 23*hour, 1}, // within the user TTL (24h) of the last message
		{t0 + 64*hour, 0}, // 41 h after the last message (at +23h), two day buckets later: mapping and history are gone
	} {
		ev := ModEvent{EntryID: fmt.Sprint("5-", i), Kind: event.ModDelete, Channel: "c", TargetLogin: "loginu", TargetMsgID: "x", TsMs: tt.at}
		if _, err := s.ApplyMod(ctx, []ModEvent{ev}); err != nil {
			t.Fatal(err)
		}
		if g := snaps(t, s, msg("c", "u", tt.at+1, 2))[0]; g.HumanDeletes != tt.want {
			t.Errorf("after a delete by login %d h after the first message: human deletes %d, want %d", (tt.at-t0)/hour, g.HumanDeletes, tt.want)
		}
	}
}

// TestStore_FirstMessageAuthor: a first-time chatter has no login mapping
// (ln:), so a CLEARMSG of their message finds the author through the
// message's cached snapshot while that is kept (SnapshotTTL of message
// time), and only for the message's own channel.
func TestStore_FirstMessageAuthor(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	first := msg("c", "u", t0, 1)
	snaps(t, s, first, msg("c2", "u", t0, 1))
	if keys, err := rdb.Keys(ctx, DefaultPrefix+"ln:*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("login mapping keys after first messages: %v, %v; want none", keys, err)
	}
	late := t0 + DefaultSnapshotTTL.Milliseconds() + 3*time.Minute.Milliseconds()
	for i, tt := range []struct {
		name   string
		ch     string
		msgID  string
		at     int64
		wantHD int32 // human deletes of u in channel c afterwards
	}{
		{"other channel's CLEARMSG naming c's message", "c2", first.MsgID, t0 + 5000, 0},
		{"unknown message", "c", "nope", t0 + 5000, 0},
		{"delete 90 s later", "c", first.MsgID, t0 + 90_000, 1},
		{"delete after the snapshot TTL", "c", first.MsgID, late, 1}, // not found: count unchanged
	} {
		ev := ModEvent{EntryID: fmt.Sprint("6-", i), Kind: event.ModDelete, Channel: tt.ch, TargetLogin: "loginu", TargetMsgID: tt.msgID, TsMs: tt.at}
		if _, err := s.ApplyMod(ctx, []ModEvent{ev}); err != nil {
			t.Fatal(err)
		}
		if h := history(t, rdb, "c", "u"); h.hd != tt.wantHD {
			t.Errorf("%s: human deletes of u in c = %d, want %d", tt.name, h.hd, tt.wantHD)
		}
	}
	if h := history(t, rdb, "c2", "u"); h.hd != 0 {
		t.Errorf("human deletes of u in c2 = %d, want 0 (the deleted message is in c)", h.hd)
	}
}

// TestStore_LateMessagesSeeWholeWindows: messages reach decide slightly out
// of order; one a few seconds older than the newest still gets exact 60 s
// counts (channel velocity and copypasta).
func TestStore_LateMessagesSeeWholeWindows(t *testing.T) {
	s, _ := newStore(t)
	got := snaps(t, s,
		msg("c", "a", t0, 42),        // second 0, bucket 0
		msg("c", "b", t0+64_000, 42), // second 64, bucket 6
		msg("c", "c", t0+59_000, 42), // 5 s late: its window (second -0.x..59, buckets 0..5) holds the first
	)
	if g := got[2]; g.ChanMsgs60s != 1 || g.DupCount60s != 1 {
		t.Errorf("late message: chan 60s %d, dup %d; want 1 and 1 (the first message)", g.ChanMsgs60s, g.DupCount60s)
	}
	if g := got[1]; g.ChanMsgs60s != 0 || g.DupCount60s != 0 {
		t.Errorf("second message: chan 60s %d, dup %d; want 0 and 0 (the first is 64 s older)", g.ChanMsgs60s, g.DupCount60s)
	}
}

// TestStore_HistoryAcrossUserBuckets: histories move into the current
// bucket (uh:<time / user TTL>) when written, a batch of slightly older
// messages after a newer one still finds the newest version, and a bucket
// two behind the one written is unlinked.
func TestStore_HistoryAcrossUserBuckets(t *testing.T) {
	s, rdb := newStore(t)
	ctx := context.Background()
	day := DefaultUserTTL.Milliseconds()
	b := t0 / day
	end := (b+1)*day - 1 // the last ms of bucket b
	snaps(t, s, msg("c", "u", end-5000, 0))
	// Across the boundary: found in the previous bucket, moved to the next.
	if g := snaps(t, s, msg("c", "u", end+2000, 0))[0]; g.UserMsgCount != 1 {
		t.Errorf("first message after the boundary: count %d, want 1", g.UserMsgCount)
	}
	for bk, want := range map[int64]bool{b: true, b + 1: true} {
		if ok, _ := rdb.HExists(ctx, fmt.Sprint(DefaultPrefix, "uh:", bk), "c:u").Result(); ok != want {
			t.Errorf("history in uh:%d = %v, want %v", bk, ok, want)
		}
	}
	// A late batch (its newest message before the boundary) reads the next
	// bucket too and writes there, not into its own.
	if g := snaps(t, s, msg("c", "u", end-1000, 0))[0]; g.UserMsgCount != 2 {
		t.Errorf("late message: count %d, want 2 (the newest version)", g.UserMsgCount)
	}
	if g := snaps(t, s, msg("c", "u", end+3000, 0))[0]; g.UserMsgCount != 3 {
		t.Errorf("after the late message: count %d, want 3", g.UserMsgCount)
	}
	// Actions and mod events take the same path.
	if _, err := s.ApplySys(ctx, []SysAction{{Channel: "c", UserID: "u", MsgID: "late", Kind: event.Warn, TsMs: end - 500}}); err != nil {
		t.Fatal(err)
	}
	if g := snaps(t, s, msg("c", "u", end+4000, 0))[0]; g.UserMsgCount != 4 || g.SysWarns != 1 {
		t.Errorf("after a late warn: count %d, warns %d; want 4 and 1", g.UserMsgCount, g.SysWarns)
	}
	// Writing bucket b+2 unlinks bucket b (and the history is read from b+1).
	if g := snaps(t, s, msg("c", "u", end+day+1000, 0))[0]; g.UserMsgCount != 5 {
		t.Errorf("a day later: count %d, want 5", g.UserMsgCount)
	}
	if n, _ := rdb.Exists(ctx, fmt.Sprint(DefaultPrefix, "uh:", b)).Result(); n != 0 {
		t.Errorf("uh:%d still exists after uh:%d was written", b, b+2)
	}
}

// TestStore_SnapshotsSysAppliesActionsFirst: actions handed over with a
// batch are in the history before its messages, and count once.
func TestStore_SnapshotsSysAppliesActionsFirst(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	snaps(t, s, msg("c", "u", t0, 0))
	acts := []SysAction{
		{Channel: "c", UserID: "u", MsgID: "a1", Kind: event.Warn, TsMs: t0 + 10},
		{Channel: "c", UserID: "u", MsgID: "a2", Kind: event.Ignore, TsMs: t0 + 10}, // not recorded
	}
	out := make([]features.Snapshot, 1)
	if err := s.SnapshotsSys(ctx, []Msg{msg("c", "u", t0+1000, 0)}, out, acts); err != nil {
		t.Fatal(err)
	}
	if g := out[0]; g.SysWarns != 1 || g.LastSysWarnMs != t0+10 || g.UserMsgCount != 1 {
		t.Errorf("snapshot with a warn handed over = %+v, want 1 warn at t0+10 and 1 earlier message", g)
	}
	if n, err := s.ApplySys(ctx, acts); err != nil || n != 0 {
		t.Errorf("ApplySys of the same actions = %d, %v; want 0 (already applied)", n, err)
	}
	if g := snaps(t, s, msg("c", "u", t0+2000, 0))[0]; g.SysWarns != 1 {
		t.Errorf("later: %d warns, want 1", g.SysWarns)
	}
}

// TestStore_VelocityMatchesModel feeds random traffic (a few channels, most
// messages in order, some up to 12 s late, pauses of up to two minutes) in
// random batch sizes and compares every snapshot's channel counts with a
// plain model of the velocity ring: a message counts when its second is
// within velocityRing seconds of its channel's newest, and a window holds
// the counted messages of its seconds that are still within them.
func TestStore_VelocityMatchesModel(t *testing.T) {
	const velocityRing = 70
	rng := rand.New(rand.NewPCG(1, 2))
	s, _ := newStore(t)
	type chanModel struct {
		newest  int64 // second; -1 before the first message
		counted []int64
	}
	model := map[string]*chanModel{}
	expect := func(m Msg) (c10, c60 int32) {
		cm := model[m.Channel]
		if cm == nil {
			cm = &chanModel{newest: -1}
			model[m.Channel] = cm
		}
		sec := m.TsMs / 1000
		cm.newest = max(cm.newest, sec)
		for _, x := range cm.counted {
			if x <= sec && x > cm.newest-velocityRing {
				if x > sec-60 {
					c60++
				}
				if x > sec-10 {
					c10++
				}
			}
		}
		if sec > cm.newest-velocityRing {
			cm.counted = append(cm.counted, sec)
		}
		return c10, c60
	}
	ts := t0
	var msgs []Msg
	for range 6000 {
		switch r := rng.IntN(1000); {
		case r < 2:
			ts += 50_000 + rng.Int64N(70_000) // a pause
		default:
			ts += rng.Int64N(120)
		}
		m := msg(fmt.Sprint("c", rng.IntN(4)), fmt.Sprint("u", rng.IntN(50)), ts, 0)
		if rng.IntN(20) == 0 {
			m.TsMs -= rng.Int64N(12_000) // late
		}
		msgs = append(msgs, m)
	}
	checked, late := 0, 0
	for i := 0; i < len(msgs); {
		j := min(len(msgs), i+1+rng.IntN(40))
		got := snaps(t, s, msgs[i:j]...)
		for k, g := range got {
			m := msgs[i+k]
			c10, c60 := expect(m)
			if g.ChanMsgs10s != c10 || g.ChanMsgs60s != c60 {
				t.Fatalf("message %d (%s, second %d): chan 10s/60s = %d/%d, want %d/%d",
					i+k, m.Channel, m.TsMs/1000-t0/1000, g.ChanMsgs10s, g.ChanMsgs60s, c10, c60)
			}
			if m.TsMs/1000 < model[m.Channel].newest {
				late++
			}
			checked++
		}
		i = j
	}
	if late < 100 {
		t.Errorf("only %d of %d messages were older than their channel's newest: the test does not exercise late messages", late, checked)
	}
}
