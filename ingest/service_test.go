package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/logging/logtest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

// waitTimeout bounds every wait; generous for a loaded 2-core machine.
const waitTimeout = 20 * time.Second

// simConfig is a small, fast simulator: n channels, generation waits until
// ingest joined all of them.
func startSim(t *testing.T, channels int, mod func(*twitchsim.Config)) *twitchsim.Server {
	t.Helper()
	cfg := twitchsim.DefaultConfig()
	cfg.WSAddr, cfg.TCPAddr, cfg.ControlAddr = "127.0.0.1:0", "127.0.0.1:0", ""
	cfg.Channels = channels
	cfg.Rate = 2000
	cfg.WaitForJoin = true
	cfg.ReconnectGrace = 2 * time.Second
	if mod != nil {
		mod(&cfg)
	}
	srv, err := twitchsim.New(cfg)
	if err != nil {
		t.Fatalf("twitchsim.New: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("twitchsim.Start: %v", err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func simChannels(n int) []string {
	chans := make([]string, n)
	for i := range chans {
		chans[i] = fmt.Sprintf("simchan%d", i)
	}
	return chans
}

// serviceConfig returns the defaults (as loaded from an empty environment)
// tuned for tests.
func serviceConfig(t *testing.T, url, redisAddr string, channels int) Config {
	t.Helper()
	clearEnv(t)
	t.Setenv("INGEST_CHANNELS", strings.Join(simChannels(channels), ","))
	t.Setenv("REDIS_ADDR", redisAddr)
	cfg, err := loadConfig()
	if err != nil {
		t.Fatalf("loadConfig: %v", err)
	}
	cfg.TwitchURL = url
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.DialTimeout = 500 * time.Millisecond
	cfg.ReadTimeout, cfg.WriteTimeout = time.Second, time.Second
	cfg.ChatMaxLen, cfg.ModMaxLen = 0, 0 // keep everything, to compare with ground truth
	cfg.RateLimit = 0
	cfg.RetryBase, cfg.RetryMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.BackoffBase, cfg.BackoffMax = 10*time.Millisecond, 100*time.Millisecond
	cfg.ShutdownTimeout = 5 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	return cfg
}

// svc is a running service under test.
type svc struct {
	*service
	errc   chan error
	cancel context.CancelFunc
	done   bool
}

// startService runs the service and waits until it is ready (logged in
// and Redis reachable).
func startService(t *testing.T, cfg Config) *svc {
	t.Helper()
	logs := &logtest.Buffer{}
	s, err := newService(cfg, logging.New(logs, slog.LevelDebug))
	if err != nil {
		t.Fatalf("newService: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	v := &svc{service: s, errc: make(chan error, 1), cancel: cancel}
	go func() { v.errc <- s.run(ctx) }()
	t.Cleanup(func() {
		if !v.done {
			cancel()
			select {
			case <-v.errc:
			case <-time.After(waitTimeout):
				t.Error("run did not return")
			}
		}
		s.close()
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	eventually(t, "service ready", func() bool { ok, _ := s.ready.Ready(); return ok })
	return v
}

// stop cancels the service's context (as SIGTERM does) and returns run's
// result.
func (v *svc) stop(t *testing.T) error {
	t.Helper()
	v.cancel()
	select {
	case err := <-v.errc:
		v.done = true
		return err
	case <-time.After(waitTimeout):
		t.Fatal("run did not return after cancel")
		return nil
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// idle reports whether the pipeline holds nothing: every in-flight gauge
// is 0.
func (v *svc) idle() bool {
	for k := range metrics.NumKinds {
		if metrics.Value(v.m.InFlight[k]) != 0 {
			return false
		}
	}
	return true
}

// simDone waits until the simulator generated everything and wrote it.
func simDone(t *testing.T, srv *twitchsim.Server) twitchsim.Stats {
	t.Helper()
	var st twitchsim.Stats
	eventually(t, "simulator done", func() bool {
		st = srv.Stats()
		return st.Done && st.Inflight == 0
	})
	return st
}

// quiesce waits until the simulator is done, ingest has read everything it
// sent and the pipeline is idle.
func quiesce(t *testing.T, v *svc, srv *twitchsim.Server) twitchsim.Stats {
	t.Helper()
	st := simDone(t, srv)
	last, stable := -1.0, 0
	eventually(t, "ingest idle", func() bool {
		r := metrics.Value(v.m.Received[metrics.Chat])
		if r == last && v.idle() {
			stable++
		} else {
			stable = 0
		}
		last = r
		return stable >= 20 // 200ms without change
	})
	return st
}

// streamIDs returns the msg_id of every chat stream entry, failing on
// entries that do not decode.
func streamChats(t *testing.T, rdb *redis.Client, key string) []event.Chat {
	t.Helper()
	msgs, err := rdb.XRange(context.Background(), key, "-", "+").Result()
	if err != nil {
		t.Fatalf("XRANGE %s: %v", key, err)
	}
	out := make([]event.Chat, 0, len(msgs))
	for _, x := range msgs {
		c, err := event.DecodeChat(x.Values)
		if err != nil {
			t.Fatalf("entry %s: %v", x.ID, err)
		}
		out = append(out, c)
	}
	return out
}

func checkBalanced(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	for k := range metrics.NumKinds {
		a := m.Accounts(k)
		if a.Balance() != 0 || a.InFlight != 0 {
			t.Errorf("kind %s: received %v but terms sum to %v (in flight %v): %+v",
				k, a.Received, a.Received-a.Balance(), a.InFlight, a)
		}
	}
}

func readTruth(t *testing.T, path string) map[string]twitchsim.TruthRecord {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	truth := map[string]twitchsim.TruthRecord{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r twitchsim.TruthRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("truth line: %v", err)
		}
		truth[r.MsgID] = r
	}
	return truth
}

// Every message the simulator sends reaches the chat stream once, with the
// fields the simulator generated; /metrics, /health and /ready answer.
func TestService_EndToEnd(t *testing.T) {
	for _, transport := range []string{"ws", "tcp"} {
		t.Run(transport, func(t *testing.T) {
			truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
			const count = 3000
			srv := startSim(t, 4, func(c *twitchsim.Config) {
				c.Count, c.TruthFile, c.Rate = count, truthPath, 3000
			})
			url := srv.WSURL()
			if transport == "tcp" {
				url = "irc://" + srv.TCPAddr()
			}
			rs := redistest.Start(t)
			v := startService(t, serviceConfig(t, url, rs, 4))
			st := quiesce(t, v, srv)
			if st.Sent != count {
				t.Fatalf("simulator sent %d, want %d (stats %+v)", st.Sent, count, st)
			}

			base := "http://" + v.srv.Addr()
			for _, path := range []string{"/health", "/ready", "/metrics"} {
				resp, err := http.Get(base + path)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Errorf("GET %s = %d %s", path, resp.StatusCode, body)
				}
				if path == "/metrics" {
					for _, want := range []string{
						`streamsafe_ingest_messages_published_total{kind="chat"} 3000`,
						`streamsafe_ingest_lines_received_total{kind="chat"} 3000`,
						`streamsafe_ingest_queue_capacity{stage="lines"} 64`,
						`streamsafe_ingest_queue_length{stage="publish"}`,
						`streamsafe_ingest_connection_state 3`,
						`streamsafe_ingest_publish_batch_duration_seconds_bucket`,
					} {
						if !strings.Contains(string(body), want) {
							t.Errorf("/metrics lacks %q", want)
						}
					}
				}
			}

			if err := v.stop(t); err != nil {
				t.Errorf("run() = %v after cancel, want nil", err)
			}
			rdb := redis.NewClient(&redis.Options{Addr: rs})
			defer rdb.Close()
			chats := streamChats(t, rdb, v.cfg.Chat)
			truth := readTruth(t, truthPath)
			if len(chats) != count || len(truth) != count {
				t.Fatalf("stream has %d entries, truth %d, want %d", len(chats), len(truth), count)
			}
			seen := map[string]bool{}
			for _, c := range chats {
				if seen[c.MsgID] {
					t.Fatalf("msg_id %s twice on the stream", c.MsgID)
				}
				seen[c.MsgID] = true
				r, ok := truth[c.MsgID]
				if !ok {
					t.Fatalf("msg_id %s not in the ground truth", c.MsgID)
				}
				got := fmt.Sprint(c.Channel, c.RoomID, c.UserID, c.Login, c.Text, c.IsAction, c.TmiSentTsMs, c.FirstMsg)
				want := fmt.Sprint(r.Channel, r.RoomID, r.UserID, r.Login, r.Text, r.Action, r.TmiSentTs, r.FirstMsg)
				if got != want {
					t.Errorf("msg %s:\n got %s\nwant %s", c.MsgID, got, want)
				}
			}
			checkBalanced(t, v.m)
		})
	}
}

// On RECONNECT the service opens a new connection while the old one keeps
// delivering: no message is lost and none is published twice.
func TestService_ReconnectNoLossNoDuplicate(t *testing.T) {
	const count = 8000
	srv := startSim(t, 3, func(c *twitchsim.Config) { c.Count, c.Rate = count, 4000 })
	rs := redistest.Start(t)
	cfg := serviceConfig(t, srv.WSURL(), rs, 3)
	// Pace JOINs (one per 300ms) so that the overlap, during which both
	// connections receive the first channel, is long enough to matter.
	cfg.JoinLimit, cfg.JoinWindow = 1, 300*time.Millisecond
	v := startService(t, cfg)
	eventually(t, "some messages published", func() bool { return metrics.Value(v.m.Published[metrics.Chat]) >= 1000 })
	if n := srv.Reconnect(0); n != 1 {
		t.Fatalf("Reconnect reached %d connections, want 1", n)
	}
	eventually(t, "switched connection", func() bool {
		return metrics.Value(v.m.Reconnects[metrics.ReconnectServer]) == 1 && metrics.Value(v.m.ConnectionsOpen) == 1
	})
	st := quiesce(t, v, srv)
	if err := v.stop(t); err != nil {
		t.Errorf("run() = %v", err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs})
	defer rdb.Close()
	chats := streamChats(t, rdb, v.cfg.Chat)
	seen := map[string]bool{}
	for _, c := range chats {
		if seen[c.MsgID] {
			t.Fatalf("msg_id %s published twice", c.MsgID)
		}
		seen[c.MsgID] = true
	}
	if uint64(len(chats)) != st.Sent || st.Sent+st.Undelivered != count {
		t.Errorf("stream has %d messages; simulator sent %d, undelivered %d (of %d)", len(chats), st.Sent, st.Undelivered, count)
	}
	a := v.m.Accounts(metrics.Chat)
	if a.Received-a.Duplicates != float64(st.Sent) {
		t.Errorf("received %v - duplicates %v != sent %d", a.Received, a.Duplicates, st.Sent)
	}
	if a.Duplicates == 0 {
		t.Error("duplicates{chat} = 0: the connections did not overlap")
	}
	t.Logf("duplicates during the overlap: %v", a.Duplicates)
	checkBalanced(t, v.m)
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The accounting equation holds exactly after a run with garbage and
// over-long lines, lines without id, rate limiting, a Redis restart, a
// server RECONNECT and a forced disconnect in the middle of a line.
func TestService_AccountingWithFaults(t *testing.T) {
	const count = 12000
	srv := startSim(t, 4, func(c *twitchsim.Config) {
		c.Count, c.Rate = count, 3000
		c.ReconnectGrace = time.Second
	})
	redisSrv := redistest.StartServer(t)
	cfg := serviceConfig(t, srv.WSURL(), redisSrv.Addr, 4)
	cfg.RateLimit, cfg.RateLimitBurst = 400, 200 // ~750/s per channel are sent
	v := startService(t, cfg)
	ready := "http://" + v.srv.Addr() + "/ready"
	eventually(t, "published 1000", func() bool { return metrics.Value(v.m.Published[metrics.Chat]) >= 1000 })

	// Bad input, injected into simchan0's connections.
	bad := []string{
		"\x00\x01 garbage \xff",
		"@only-tags-no-command",
		"@id=big;room-id=1;user-id=2 :x!x@x PRIVMSG #simchan0 :" + strings.Repeat("A", 10000), // oversize
		"@room-id=1;user-id=2;tmi-sent-ts=1 :x!x@x PRIVMSG #simchan0 :no id tag",              // parse error
		"@id=f4u1ty;room-id=1;user-id=2;tmi-sent-ts=1 :x!x@x PRIVMSG #simchan0 :caf\xc3(",     // invalid UTF-8, published
		"@msg-id=msg_banned :tmi.twitch.tv NOTICE #simchan0 :You are banned.",
		":tmi.twitch.tv HOSTTARGET #simchan0 :other 10",
	}
	for _, l := range bad {
		if n := srv.Inject("simchan0", []byte(l)); n != 1 {
			t.Fatalf("Inject reached %d connections", n)
		}
	}

	// Redis goes away; /ready says so; it comes back empty.
	redisSrv.Stop()
	eventually(t, "not ready without redis", func() bool { return httpStatus(t, ready) == http.StatusServiceUnavailable })
	redisSrv.Restart(t)
	eventually(t, "ready again", func() bool { return httpStatus(t, ready) == http.StatusOK })

	// RECONNECT (make-before-break), then an abrupt close mid-line.
	srv.Reconnect(0)
	eventually(t, "switched", func() bool {
		return metrics.Value(v.m.Reconnects[metrics.ReconnectServer]) == 1 && metrics.Value(v.m.ConnectionsOpen) == 1
	})
	srv.Disconnect(0, true)
	eventually(t, "reconnected after disconnect", func() bool {
		return metrics.Value(v.m.Reconnects[metrics.ReconnectEOF])+metrics.Value(v.m.Reconnects[metrics.ReconnectError]) >= 1 &&
			metrics.Value(v.m.ConnectionState) == metrics.StateJoined
	})

	st := quiesce(t, v, srv)
	if err := v.stop(t); err != nil {
		t.Errorf("run() = %v", err)
	}
	checkBalanced(t, v.m)

	chat := v.m.Accounts(metrics.Chat)
	// The simulator counts each message once however many connections got
	// it, so duplicates come on top of sent.
	injectedChat := 3.0 // oversize, no id, invalid UTF-8 (Inject is not counted in sent)
	if got, want := chat.Received-chat.Duplicates, float64(st.Sent)+injectedChat; got != want {
		t.Errorf("received - duplicates = %v, want sent %d + %v injected", got, st.Sent, injectedChat)
	}
	checks := []struct {
		name string
		got  float64
		min  float64
	}{
		{"rate_limited{chat}", chat.RateLimited, 1},
		{"lines_oversize{chat}", chat.Oversize, 1},
		{"parse_errors{chat}", chat.ParseErrors, 1},
		{"dropped{control,unknown_command}", metrics.Value(v.m.Dropped[metrics.Control][metrics.DropUnknown]), 2},
		{"bad_input{invalid_utf8}", metrics.Value(v.m.BadInput[metrics.BadInvalidUTF8]), 1},
		{"reconnects{server_reconnect}", metrics.Value(v.m.Reconnects[metrics.ReconnectServer]), 1},
		{"publish retries or fail-open checks", metrics.Value(v.m.PublishRetries) + metrics.Value(v.m.RateLimitErrors), 1},
	}
	for _, c := range checks {
		if c.got < c.min {
			t.Errorf("%s = %v, want >= %v", c.name, c.got, c.min)
		}
	}
	t.Logf("chat accounts: %+v; simulator: sent %d undelivered %d dropped %d", chat, st.Sent, st.Undelivered, st.Dropped)
}

// While Redis does not accept writes the queues fill up to their bounds and
// the reader stops reading (the simulator's per-connection queue grows);
// afterwards everything is published.
func TestService_BackpressureWhenRedisStalls(t *testing.T) {
	const count = 15000
	srv := startSim(t, 2, func(c *twitchsim.Config) { c.Count, c.Rate = count, 6000 })
	rs := redistest.Start(t)
	cfg := serviceConfig(t, srv.WSURL(), rs, 2)
	cfg.QueueLines, cfg.QueueEvents, cfg.QueuePublish, cfg.BatchSize = 2, 1, 1, 64
	v := startService(t, cfg)
	eventually(t, "published 500", func() bool { return metrics.Value(v.m.Published[metrics.Chat]) >= 500 })

	rdb := redis.NewClient(&redis.Options{Addr: rs})
	defer rdb.Close()
	const pause = 1500 * time.Millisecond
	if err := rdb.Do(context.Background(), "CLIENT", "PAUSE", pause.Milliseconds(), "WRITE").Err(); err != nil {
		t.Fatal(err)
	}
	// Everything the service can hold: the reader's batch, each queue full
	// of full batches, one batch in each stage's hands and the writer's
	// pending entries.
	const lineBatch, eventBatch = 128, 512 + 127
	bound := float64(lineBatch + cfg.QueueLines*lineBatch + eventBatch /* parser */ +
		cfg.QueueEvents*eventBatch + eventBatch /* limiter */ + cfg.QueuePublish*eventBatch + cfg.BatchSize + eventBatch /* writer */)
	maxInFlight, serverQueued := 0.0, 0
	publishedAtStart := metrics.Value(v.m.Published[metrics.Chat])
	var stalledFrom float64 // lines received when the last 300ms of the pause began
	end := time.Now().Add(pause - 200*time.Millisecond)
	for stallCheck := end.Add(-300 * time.Millisecond); time.Now().Before(end); {
		maxInFlight = max(maxInFlight, metrics.Value(v.m.InFlight[metrics.Chat]))
		for _, c := range srv.Stats().Conns {
			serverQueued = max(serverQueued, c.QueuedBytes)
		}
		if stalledFrom == 0 && time.Now().After(stallCheck) {
			stalledFrom = metrics.Value(v.m.Received[metrics.Chat])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := metrics.Value(v.m.Received[metrics.Chat]); got != stalledFrom {
		t.Errorf("received grew from %v to %v late in the pause: the reader did not stop reading", stalledFrom, got)
	}
	if got := metrics.Value(v.m.Published[metrics.Chat]); got > publishedAtStart+float64(cfg.BatchSize+eventBatch) {
		t.Errorf("published grew from %v to %v while Redis was paused", publishedAtStart, got)
	}
	if maxInFlight > bound {
		t.Errorf("in flight reached %v, want <= %v (bounded queues)", maxInFlight, bound)
	}
	st := quiesce(t, v, srv)
	if err := v.stop(t); err != nil {
		t.Errorf("run() = %v", err)
	}
	if n, _ := rdb.XLen(context.Background(), cfg.Chat).Result(); uint64(n) != st.Sent || st.Sent != count {
		t.Errorf("XLEN = %d, simulator sent %d of %d", n, st.Sent, count)
	}
	checkBalanced(t, v.m)
	// The simulator's own queue grows only once the kernel's socket buffers
	// are full, so it is logged, not asserted.
	t.Logf("max in flight %v (bound %v), max simulator queue %d bytes", maxInFlight, bound, serverQueued)
}

// Cancelling run's context (what SIGTERM does) stops reading, drains the
// queues into Redis and returns nil.
func TestService_ShutdownDrains(t *testing.T) {
	srv := startSim(t, 2, func(c *twitchsim.Config) { c.Rate = 4000 }) // no end
	rs := redistest.Start(t)
	v := startService(t, serviceConfig(t, srv.WSURL(), rs, 2))
	eventually(t, "published 1000", func() bool { return metrics.Value(v.m.Published[metrics.Chat]) >= 1000 })
	if err := v.stop(t); err != nil {
		t.Fatalf("run() = %v after cancel, want nil", err)
	}
	checkBalanced(t, v.m)
	for k := range metrics.NumKinds {
		if n := metrics.Value(v.m.Dropped[k][metrics.DropShutdown]); n != 0 {
			t.Errorf("dropped{%s,shutdown} = %v, want 0 (drained in time)", k, n)
		}
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs})
	defer rdb.Close()
	n, _ := rdb.XLen(context.Background(), v.cfg.Chat).Result()
	if pub := metrics.Value(v.m.Published[metrics.Chat]); float64(n) != pub {
		t.Errorf("XLEN = %d, published = %v", n, pub)
	}
	if ok, _ := v.ready.Ready(); ok {
		t.Error("still ready after shutdown")
	}
}

// A rejected login stops the service with a clear error instead of a
// reconnect loop.
func TestService_AuthFailure(t *testing.T) {
	srv := startSim(t, 1, func(c *twitchsim.Config) { c.Tokens = []string{"good"} })
	rs := redistest.Start(t)
	cfg := serviceConfig(t, srv.WSURL(), rs, 1)
	cfg.TwitchToken.Decode("bad")
	cfg.TwitchNick = "bot"
	errc := make(chan error, 1)
	go func() { errc <- run(context.Background(), cfg, logging.Discard()) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), "authentication failed") || !strings.Contains(err.Error(), "Login authentication failed") {
			t.Errorf("run() = %v, want an authentication error quoting the server", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("run did not stop after the login was rejected")
	}
	if n := srv.Stats().AuthFailures; n != 1 {
		t.Errorf("simulator saw %d login attempts fail, want 1 (no reconnect loop)", n)
	}
}
