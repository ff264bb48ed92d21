package twitch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
)

const privmsg = `@badge-info=;badges=;color=;display-name=Foo;emotes=;first-msg=0;id=%s;mod=0;room-id=1;subscriber=0;tmi-sent-ts=1;turbo=0;user-id=2;user-type= :foo!foo@foo.tmi.twitch.tv PRIVMSG #%s :%s`

func msg(id, ch, text string) string { return fmt.Sprintf(privmsg, id, ch, text) }

func TestClient_Handshake(t *testing.T) {
	for _, transport := range []string{"tcp", "ircs", "ws", "wss"} {
		t.Run(transport, func(t *testing.T) {
			srv := newFakeServer(t, transport)
			cfg := testConfig(srv.url, "#Alpha", "beta")
			cfg.Token, cfg.Nick = "s3cret", "MyBot"
			cfg.TLSConfig = srv.clientTLS
			h := startClient(t, cfg, nil)
			c := srv.accept(t)
			c.expect(t, "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership")
			if got, want := c.next(t), "PASS oauth:s3cret"; got != want {
				t.Errorf("second line = %q, want %q", got, want)
			}
			if got, want := c.next(t), "NICK mybot"; got != want {
				t.Errorf("third line = %q, want %q", got, want)
			}
			c.send(t, ":tmi.twitch.tv 001 mybot :Welcome, GLHF!")
			if got, want := c.next(t), "JOIN #alpha,#beta"; got != want {
				t.Errorf("JOIN line = %q, want %q", got, want)
			}
			c.send(t, ":mybot!mybot@mybot.tmi.twitch.tv JOIN #alpha",
				"@room-id=7;slow=0 :tmi.twitch.tv ROOMSTATE #beta")
			eventually(t, "state joined", func() bool {
				return metrics.Value(h.m.ConnectionState) == metrics.StateJoined
			})
			if got := metrics.Value(h.m.ChannelsJoined); got != 2 {
				t.Errorf("channels_joined = %v, want 2", got)
			}
			// ROOMSTATE is a mod line and is handed on.
			if got := h.line(t); !strings.Contains(got, "ROOMSTATE #beta") {
				t.Errorf("handed on %q, want the ROOMSTATE", got)
			}
		})
	}
}

func TestClient_AnonymousLogin(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	startClient(t, testConfig(srv.url, "a"), nil)
	c := srv.accept(t)
	c.expect(t, "CAP REQ ")
	l := c.next(t)
	nick, ok := strings.CutPrefix(l, "NICK justinfan")
	if !ok || nick == "" || strings.Trim(nick, "0123456789") != "" {
		t.Errorf("anonymous login sent %q, want NICK justinfan<digits> and no PASS", l)
	}
}

// JOINs are paced by a sliding window shared by all connections.
func TestClient_JoinPacing(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	cfg := testConfig(srv.url, "c1", "c2", "c3", "c4", "c5")
	cfg.JoinLimit, cfg.JoinWindow = 2, 300*time.Millisecond
	startClient(t, cfg, nil)
	c := srv.accept(t)
	c.login(t)
	var got []string
	var at []time.Time
	for len(got) < 3 {
		got = append(got, c.expect(t, "JOIN "))
		at = append(at, time.Now())
	}
	want := []string{"JOIN #c1,#c2", "JOIN #c3,#c4", "JOIN #c5"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("JOIN %d = %q, want %q", i, got[i], want[i])
		}
	}
	// Lower bounds only: a loaded machine may be slower, never faster.
	for i := 1; i < len(at); i++ {
		if d := at[i].Sub(at[i-1]); d < 250*time.Millisecond {
			t.Errorf("JOIN %d came %v after the previous one, want >= ~300ms", i, d)
		}
	}
}

func TestJoinLimiter_SlidingWindow(t *testing.T) {
	now := time.Unix(0, 0)
	l := newJoinLimiter(3, 10*time.Second)
	l.now = func() time.Time { return now }
	var slept []time.Duration
	l.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	ctx := context.Background()
	steps := []struct {
		n, want int
		advance time.Duration
	}{
		{n: 2, want: 2},
		{n: 5, want: 1, advance: 4 * time.Second}, // t=4s: one slot left
		{n: 5, want: 2}, // waits until t=10s, when the first two expire
		{n: 1, want: 1}, // waits until t=14s
	}
	for i, st := range steps {
		now = now.Add(st.advance)
		got, err := l.take(ctx, st.n)
		if err != nil || got != st.want {
			t.Errorf("step %d: take(%d) = %d, %v; want %d", i, st.n, got, err, st.want)
		}
	}
	wantSlept := []time.Duration{6 * time.Second, 4 * time.Second}
	if fmt.Sprint(slept) != fmt.Sprint(wantSlept) {
		t.Errorf("slept %v, want %v", slept, wantSlept)
	}
	if now != time.Unix(14, 0) {
		t.Errorf("clock at %v, want 14s", now.Sub(time.Unix(0, 0)))
	}
}

func TestJoinLines(t *testing.T) {
	long := make([]string, 40)
	for i := range long {
		long[i] = fmt.Sprintf("c%024d", i) // 25 bytes, the longest login
	}
	tests := []struct {
		name  string
		in    []string
		lines int
	}{
		{"one", []string{"a"}, 1},
		{"few", []string{"a", "b", "c"}, 1},
		{"split_at_500_bytes", long, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := joinLines(tt.in)
			if len(got) != tt.lines {
				t.Fatalf("joinLines: %d lines, want %d", len(got), tt.lines)
			}
			var all []string
			for _, l := range got {
				if len(l) > maxJoinLine {
					t.Errorf("line of %d bytes, want <= %d", len(l), maxJoinLine)
				}
				for _, ch := range strings.Split(strings.TrimPrefix(string(l), "JOIN "), ",") {
					all = append(all, strings.TrimPrefix(ch, "#"))
				}
			}
			if strings.Join(all, ",") != strings.Join(tt.in, ",") {
				t.Errorf("channels %v, want %v", all, tt.in)
			}
		})
	}
}

func TestClient_AnswersPing(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			srv := newFakeServer(t, transport)
			h := startClient(t, testConfig(srv.url, "a"), nil)
			c := srv.accept(t)
			nick := c.login(t)
			c.joinAll(t, nick, "a")
			c.send(t, "PING :tmi.twitch.tv")
			if got, want := c.next(t), "PONG :tmi.twitch.tv"; got != want {
				t.Errorf("answer to PING = %q, want %q", got, want)
			}
			if got := metrics.Value(h.m.PingsFromServer); got != 1 {
				t.Errorf("pings_total{origin=server} = %v, want 1", got)
			}
			if got := metrics.Value(h.m.Filtered[metrics.Control][irc.CmdPing]); got != 1 {
				t.Errorf("lines_filtered_total{control,PING} = %v, want 1", got)
			}
		})
	}
}

// An idle link gets a PING; a PONG keeps it; a missing PONG reconnects.
func TestClient_IdlePingAndPongTimeout(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	cfg := testConfig(srv.url, "a")
	cfg.IdlePing, cfg.PongTimeout = 100*time.Millisecond, time.Second
	h := startClient(t, cfg, nil)
	c := srv.accept(t)
	nick := c.login(t)
	c.joinAll(t, nick, "a")

	c.expect(t, "PING :streamsafe")
	c.send(t, ":tmi.twitch.tv PONG tmi.twitch.tv :streamsafe")
	c.expect(t, "PING :streamsafe") // answered, so the link stays and idles again
	if got := metrics.Value(h.m.Reconnects[metrics.ReconnectPingTimeout]); got != 0 {
		t.Fatalf("reconnects{ping_timeout} = %v after an answered PING, want 0", got)
	}
	// Do not answer: the client gives up on this connection and dials again.
	c.waitGone(t)
	c2 := srv.accept(t)
	c2.login(t)
	if got := metrics.Value(h.m.Reconnects[metrics.ReconnectPingTimeout]); got != 1 {
		t.Errorf("reconnects{ping_timeout} = %v, want 1", got)
	}
}

func TestClient_AuthFailureStops(t *testing.T) {
	for _, notice := range []string{"Login authentication failed", "Improperly formatted auth", "Login unsuccessful", "Invalid NICK"} {
		t.Run(notice, func(t *testing.T) {
			srv := newFakeServer(t, "tcp")
			cfg := testConfig(srv.url, "a")
			cfg.Token, cfg.Nick = "bad", "bot"
			h := startClient(t, cfg, nil)
			c := srv.accept(t)
			c.expect(t, "CAP REQ")
			c.expect(t, "PASS oauth:bad")
			c.expect(t, "NICK bot")
			c.send(t, ":tmi.twitch.tv NOTICE * :"+notice)
			select {
			case err := <-h.errc:
				h.errc <- err
				if !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), notice) {
					t.Errorf("Run() = %v, want ErrAuth naming %q", err, notice)
				}
			case <-time.After(waitTimeout):
				t.Fatal("Run did not stop after an authentication failure")
			}
			srv.noConn(t, 100*time.Millisecond)
			select {
			case <-h.closed:
			case <-time.After(waitTimeout):
				t.Error("batch channel not closed")
			}
		})
	}
}

// A frame holding several lines is split; an empty frame is counted.
func TestClient_WebSocketFrames(t *testing.T) {
	srv := newFakeServer(t, "ws")
	h := startClient(t, testConfig(srv.url, "a"), nil)
	c := srv.accept(t)
	nick := c.login(t)
	c.joinAll(t, nick, "a")
	c.send(t, msg("1", "a", "one"), msg("2", "a", "two"), "PING :x", msg("3", "a", "three"))
	if err := c.writeRaw(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.writeRaw([]byte("\r\n")); err != nil {
		t.Fatal(err)
	}
	// The last line of a frame needs no CRLF.
	if err := c.writeRaw([]byte(msg("4", "a", "four"))); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"one", "two", "three", "four"} {
		if got := h.line(t); !strings.HasSuffix(got, " :"+want) {
			t.Errorf("line = %q, want text %q", got, want)
		}
	}
	c.expect(t, "PONG :x")
	if got := metrics.Value(h.m.BadInput[metrics.BadEmptyFrame]); got != 2 {
		t.Errorf("bad_input{empty_frame} = %v, want 2", got)
	}
	if got := metrics.Value(h.m.Received[metrics.Chat]); got != 4 {
		t.Errorf("received{chat} = %v, want 4", got)
	}
}

// Bad input over TCP is counted and skipped; the stream resynchronises
// after an over-long line, and a line cut by the server's close is counted
// as truncated.
func TestClient_BadInputTCP(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	cfg := testConfig(srv.url, "a")
	cfg.MaxLineBytes = 600
	h := startClient(t, cfg, nil)
	c := srv.accept(t)
	nick := c.login(t)
	c.joinAll(t, nick, "a")

	raw := strings.Join([]string{
		msg("1", "a", strings.Repeat("x", 5000)), // oversize chat line, several buffers long
		"\x00\xff\xfe garbage \x01",              // unknown command
		"@badge-info=;badges=;truncated-tags",    // tags without a command
		"",                                       // empty line: skipped silently
		msg("2", "a", "ok \xff\xfe"),             // fine for the reader (invalid UTF-8 is the parser's business)
		strings.Repeat("y", 700),                 // oversize, unknown command
	}, "\r\n") + "\r\n" + msg("3", "a", "cut in the mid")
	if err := c.writeRaw([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	if got := h.line(t); !strings.Contains(got, "id=2;") {
		t.Errorf("first line handed on = %q, want message id 2", got)
	}
	c.kill() // server closes mid-line
	eventually(t, "truncated line counted", func() bool {
		return metrics.Value(h.m.Dropped[metrics.Chat][metrics.DropTruncated]) == 1
	})
	checks := []struct {
		name string
		got  float64
		want float64
	}{
		{"oversize{chat}", metrics.Value(h.m.Oversize[metrics.Chat]), 1},
		{"oversize{control}", metrics.Value(h.m.Oversize[metrics.Control]), 1},
		{"dropped{control,unknown_command}", metrics.Value(h.m.Dropped[metrics.Control][metrics.DropUnknown]), 2},
		{"received{chat}", metrics.Value(h.m.Received[metrics.Chat]), 3},
		{"bad_input{oversize}", metrics.Value(h.m.BadInput[metrics.BadOversize]), 2},
		{"bad_input{truncated}", metrics.Value(h.m.BadInput[metrics.BadTruncated]), 1},
		{"in_flight{chat}", metrics.Value(h.m.InFlight[metrics.Chat]), 1},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	// The client reconnects after the server closed (EOF).
	srv.accept(t).login(t)
	eventually(t, "reconnects{eof}", func() bool { return metrics.Value(h.m.Reconnects[metrics.ReconnectEOF]) == 1 })
}

// RECONNECT: the new connection logs in and joins while the old one keeps
// delivering; the old one is closed (cleanly) only after the new one joined
// every channel.
func TestClient_ReconnectMakeBeforeBreak(t *testing.T) {
	for _, transport := range []string{"tcp", "ws"} {
		t.Run(transport, func(t *testing.T) {
			srv := newFakeServer(t, transport)
			h := startClient(t, testConfig(srv.url, "a", "b"), nil)
			old := srv.accept(t)
			nick := old.login(t)
			old.joinAll(t, nick, "a", "b")
			old.send(t, msg("1", "a", "before"))
			old.send(t, ":tmi.twitch.tv RECONNECT")

			var texts []string
			next := func() {
				l := h.line(t)
				if i := strings.LastIndex(l, " :"); i >= 0 && strings.Contains(l, "PRIVMSG") {
					texts = append(texts, l[i+2:])
				} else {
					texts = append(texts, "roomstate")
				}
			}
			nc := srv.accept(t)
			nc.login(t)
			// The old connection still delivers while the new one joins.
			// Its lines are taken before the new connection sends: lines of
			// two connections have no order between them.
			old.send(t, msg("2", "a", "during"))
			next()
			next()
			nc.expect(t, "JOIN ")
			nc.send(t, ":"+nick+"!"+nick+"@"+nick+".tmi.twitch.tv JOIN #a")
			old.send(t, msg("3", "b", "overlap"))
			nc.send(t, msg("3", "b", "overlap")) // duplicate: both see it
			select {
			case <-old.gone:
				t.Fatal("old connection closed before the new one joined every channel")
			case <-time.After(100 * time.Millisecond):
			}
			nc.send(t, "@room-id=9 :tmi.twitch.tv ROOMSTATE #b") // joined b
			old.waitGone(t)
			if transport == "ws" && !old.closeFrame.Load() {
				t.Error("old WebSocket closed without a close frame")
			}
			nc.send(t, msg("4", "a", "after"))

			for len(texts) < 6 {
				next()
			}
			got := strings.Join(texts, ",")
			want := "before,during,overlap,overlap,roomstate,after"
			if got != want {
				t.Errorf("lines handed on = %s, want %s", got, want)
			}
			if n := metrics.Value(h.m.Reconnects[metrics.ReconnectServer]); n != 1 {
				t.Errorf("reconnects{server_reconnect} = %v, want 1", n)
			}
			for _, r := range []metrics.Reconnect{metrics.ReconnectEOF, metrics.ReconnectError} {
				if n := metrics.Value(h.m.Reconnects[r]); n != 0 {
					t.Errorf("reconnects{%s} = %v, want 0", r, n)
				}
			}
		})
	}
}

// While the pipeline does not take batches, the reader blocks; the
// keepalive must not mistake the unread input for a dead link.
func TestClient_BackpressureBlocksReader(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	cfg := testConfig(srv.url, "a")
	cfg.IdlePing, cfg.PongTimeout = 50*time.Millisecond, 50*time.Millisecond
	out := make(chan *Batch) // nobody reads yet
	h := startClient(t, cfg, out)
	c := srv.accept(t)
	nick := c.login(t)
	c.joinAll(t, nick, "a")
	c.autoPong()
	const n = 200
	for i := range n {
		c.send(t, msg(fmt.Sprint(i), "a", "m"))
	}
	eventually(t, "reader blocked", func() bool {
		cur := h.cl.current.Load()
		return cur != nil && cur.blocked.Load()
	})
	time.Sleep(300 * time.Millisecond) // several ping intervals
	if got := metrics.Value(h.m.Reconnects[metrics.ReconnectPingTimeout]); got != 0 {
		t.Errorf("reconnects{ping_timeout} = %v while blocked on the pipeline, want 0", got)
	}
	got := 0
	for got < n {
		select {
		case b := <-out:
			got += b.Len()
			b.Release()
		case <-time.After(waitTimeout):
			t.Fatalf("got %d of %d lines", got, n)
		}
	}
	go func() {
		for b := range out {
			b.Release()
		}
	}()
}

// Cancelling Run closes the connection cleanly and closes the output.
func TestClient_ShutdownClosesCleanly(t *testing.T) {
	srv := newFakeServer(t, "ws")
	h := startClient(t, testConfig(srv.url, "a"), nil)
	c := srv.accept(t)
	nick := c.login(t)
	c.joinAll(t, nick, "a")
	c.send(t, msg("1", "a", "last words"))
	if got := h.line(t); !strings.Contains(got, "last words") {
		t.Fatalf("line = %q", got)
	}
	if err := h.stop(t); err != nil {
		t.Errorf("Run() = %v after cancel, want nil", err)
	}
	c.waitGone(t)
	if !c.closeFrame.Load() {
		t.Error("no WebSocket close frame on shutdown")
	}
	select {
	case <-h.closed:
	case <-time.After(waitTimeout):
		t.Error("batch channel not closed after Run returned")
	}
}

// A server that never sends the welcome is given up after LoginTimeout.
func TestClient_LoginTimeout(t *testing.T) {
	srv := newFakeServer(t, "tcp")
	cfg := testConfig(srv.url, "a")
	cfg.LoginTimeout = 100 * time.Millisecond
	h := startClient(t, cfg, nil)
	c := srv.accept(t)
	c.expect(t, "CAP REQ")
	c.waitGone(t) // no 001: the client hangs up and dials again
	srv.accept(t).login(t)
	eventually(t, "reconnects{error}", func() bool { return metrics.Value(h.m.Reconnects[metrics.ReconnectError]) == 1 })
	eventually(t, "logged in", func() bool { return metrics.Value(h.m.ConnectionState) >= metrics.StateConnected })
}
