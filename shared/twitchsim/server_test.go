package twitchsim

import (
	"bufio"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

var transports = []string{"tcp", "ws"}

func TestServer_HandshakeTranscript(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			s := startServer(t, func(c *Config) { c.Tokens = []string{"goodtoken"} })
			c := dial(t, s, tr)
			c.send("CAP REQ :" + allCaps)
			c.send("PASS oauth:goodtoken")
			c.send("NICK SimBot")
			want := []string{
				":tmi.twitch.tv CAP * ACK :" + allCaps,
				":tmi.twitch.tv 001 simbot :Welcome, GLHF!",
				":tmi.twitch.tv 002 simbot :Your host is tmi.twitch.tv",
				":tmi.twitch.tv 003 simbot :This server is rather new",
				":tmi.twitch.tv 004 simbot :-",
				":tmi.twitch.tv 375 simbot :-",
				":tmi.twitch.tv 372 simbot :You are in a maze of twisty passages, all alike.",
				":tmi.twitch.tv 376 simbot :>",
				"@badge-info=;badges=;color=;display-name=simbot;emote-sets=0;user-id=" + BotUserID("simbot") + ";user-type= :tmi.twitch.tv GLOBALUSERSTATE",
			}
			for _, w := range want {
				c.expect(w)
			}
			c.send("JOIN #simchan0,#SimChan1")
			for i, ch := range []string{"simchan0", "simchan1"} {
				room := strconv.Itoa(DefaultRoomIDBase + i)
				c.expect(":simbot!simbot@simbot.tmi.twitch.tv JOIN #" + ch)
				c.expect(":simbot.tmi.twitch.tv 353 simbot = #" + ch + " :simbot")
				c.expect(":simbot.tmi.twitch.tv 366 simbot #" + ch + " :End of /NAMES list")
				c.expect("@badge-info=;badges=moderator/1;color=;display-name=simbot;emote-sets=0;mod=1;subscriber=0;user-type=mod :tmi.twitch.tv USERSTATE #" + ch)
				c.expect("@emote-only=0;followers-only=-1;r9k=0;rituals=0;room-id=" + room + ";slow=0;subs-only=0 :tmi.twitch.tv ROOMSTATE #" + ch)
			}
			c.send("PING :go-twitch-irc")
			c.expect(":tmi.twitch.tv PONG tmi.twitch.tv :go-twitch-irc")
			c.send("WHO #simchan0")
			c.expect(":tmi.twitch.tv 421 simbot WHO :Unknown command")
			c.send("PRIVMSG #simchan0 :hello")
			c.expect("@badge-info=;badges=moderator/1;color=;display-name=simbot;emote-sets=0;mod=1;subscriber=0;user-type=mod :tmi.twitch.tv USERSTATE #simchan0")
			c.send("PART #simchan1")
			c.expect(":simbot!simbot@simbot.tmi.twitch.tv PART #simchan1")
			st := s.Stats()
			equal(t, "connections", st.Connections, 1)
			equal(t, "clients_joined[simchan0]", st.ClientsJoined["simchan0"], 1)
			equal(t, "clients_joined[simchan1]", st.ClientsJoined["simchan1"], 0)
			equal(t, "conns[0].transport", st.Conns[0].Transport, tr)
			equal(t, "conns[0].nick", st.Conns[0].Nick, "simbot")
		})
	}
}

func TestServer_AnonymousWithoutCaps(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Tokens = []string{"goodtoken"}; c.Rate = 500; c.Channels = 1 })
	c := dial(t, s, "tcp")
	c.send("NICK justinfan12345")
	c.expect(":tmi.twitch.tv 001 justinfan12345 :Welcome, GLHF!")
	c.waitFor("376", time.Second, func(l string) bool { return strings.Contains(l, " 376 ") })
	c.send("JOIN #simchan0")
	c.expect(":justinfan12345!justinfan12345@justinfan12345.tmi.twitch.tv JOIN #simchan0")
	c.expect(":justinfan12345.tmi.twitch.tv 353 justinfan12345 = #simchan0 :justinfan12345")
	c.expect(":justinfan12345.tmi.twitch.tv 366 justinfan12345 #simchan0 :End of /NAMES list")
	// No USERSTATE/ROOMSTATE without twitch.tv/commands; PRIVMSGs without tags.
	for range 20 {
		l, ok := c.next(2 * time.Second)
		if !ok {
			t.Fatal("no PRIVMSG received")
		}
		m := parseIRC(l)
		if m.command != "PRIVMSG" || len(m.tags) != 0 || !strings.HasPrefix(l, ":") {
			t.Fatalf("line = %q, want an untagged PRIVMSG", l)
		}
	}
}

func TestServer_AuthFailure(t *testing.T) {
	tests := []struct {
		name   string
		pass   string
		nick   string
		notice string
	}{
		{"wrong_token", "oauth:wrong", "simbot", "Login authentication failed"},
		{"missing_pass", "", "simbot", "Improperly formatted auth"},
		{"no_oauth_prefix", "goodtoken", "simbot", "Improperly formatted auth"},
		{"invalid_nick", "oauth:goodtoken", "bad!nick", "Invalid NICK"},
	}
	for _, tr := range transports {
		for _, tt := range tests {
			t.Run(tr+"/"+tt.name, func(t *testing.T) {
				s := startServer(t, func(c *Config) { c.Tokens = []string{"goodtoken"} })
				c := dial(t, s, tr)
				c.send("CAP REQ :" + allCaps)
				if tt.pass != "" {
					c.send("PASS " + tt.pass)
				}
				c.send("NICK " + tt.nick)
				c.expect(":tmi.twitch.tv CAP * ACK :" + allCaps)
				c.expect(":tmi.twitch.tv NOTICE * :" + tt.notice)
				if rest := c.waitClosed(3 * time.Second); len(rest) != 0 {
					t.Errorf("lines after auth failure: %q", rest)
				}
				equal(t, "auth_failures", s.Stats().AuthFailures, uint64(1))
			})
		}
	}
}

func TestServer_CapNAK(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s, "tcp")
	c.send("CAP REQ :twitch.tv/tags twitch.tv/bogus")
	c.expect(":tmi.twitch.tv CAP * NAK :twitch.tv/tags twitch.tv/bogus")
}

func TestServer_MultiLineFrames(t *testing.T) {
	const maxFrame = 4096
	s := startServer(t, func(c *Config) {
		c.Rate, c.Channels, c.MaxFrameBytes, c.Tick = 20000, 1, maxFrame, 5*time.Millisecond
	})
	c := dial(t, s, "ws")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0")
	got := 0
	for got < 3000 {
		l, ok := c.next(3 * time.Second)
		if !ok {
			t.Fatalf("stream ended after %d lines", got)
		}
		if strings.Contains(l, " PRIVMSG ") {
			checkPrivmsgLoose(t, l)
			got++
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	multi, maxLines := 0, 0
	for i, n := range c.frameLines {
		if n > 1 {
			multi++
			if c.frameBytes[i] > maxFrame {
				t.Errorf("frame %d has %d lines in %d bytes, above MaxFrameBytes %d", i, n, c.frameBytes[i], maxFrame)
			}
		}
		maxLines = max(maxLines, n)
	}
	if multi == 0 {
		t.Errorf("no WebSocket frame carried more than one line (%d frames)", len(c.frameLines))
	}
	t.Logf("%d frames, %d with several lines, up to %d lines per frame", len(c.frameLines), multi, maxLines)
}

// checkPrivmsgLoose checks a received PRIVMSG carries an id and room-id.
func checkPrivmsgLoose(t *testing.T, l string) ircMsg {
	t.Helper()
	m := parseIRC(l)
	if m.command != "PRIVMSG" || !uuidV4Re.MatchString(m.tags["id"]) || m.tags["room-id"] == "" {
		t.Fatalf("bad PRIVMSG %q", l)
	}
	return m
}

func TestServer_RateAccuracy(t *testing.T) {
	const rate = 4000
	s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.StartPaused = rate, 2, true })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0", "simchan1")
	s.Resume()
	time.Sleep(200 * time.Millisecond) // skip start-up
	g0, t0 := s.Stats().Generated, time.Now()
	time.Sleep(time.Second)
	g1, t1 := s.Stats().Generated, time.Now()
	got := float64(g1-g0) / t1.Sub(t0).Seconds()
	if got < rate*0.9 || got > rate*1.1 {
		t.Errorf("measured rate = %.0f msg/s, want %d ±10%%", got, rate)
	}
	if st := s.Stats(); st.LagSkipped != 0 {
		t.Errorf("lag_skipped = %d, want 0", st.LagSkipped)
	}
}

func countPrivmsgs(t *testing.T, c *testClient, n int) (ids []string, byChannel map[string]int) {
	t.Helper()
	byChannel = map[string]int{}
	for len(ids) < n {
		l, ok := c.next(5 * time.Second)
		if !ok {
			t.Fatalf("got %d PRIVMSGs, want %d", len(ids), n)
		}
		if !strings.Contains(l, " PRIVMSG #") {
			continue
		}
		m := checkPrivmsgLoose(t, l)
		ids = append(ids, m.tags["id"])
		byChannel[strings.TrimPrefix(m.params[0], "#")]++
	}
	return ids, byChannel
}

func TestServer_SentAccountingExact(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			const count = 3000
			s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.Count, c.WaitForJoin = 20000, 3, count, true })
			c := dial(t, s, tr)
			c.login("simbot", "oauth:x", true)
			c.join(true, "simchan0", "simchan1", "simchan2")
			ids, byChannel := countPrivmsgs(t, c, count)
			st := waitSettled(t, s)
			equal(t, "generated", st.Generated, uint64(count))
			equal(t, "sent", st.Sent, uint64(count))
			equal(t, "undelivered", st.Undelivered, uint64(0))
			equal(t, "dropped", st.Dropped, uint64(0))
			var sum uint64
			for ch, n := range st.SentByChannel {
				equal(t, "sent_by_channel["+ch+"]", n, uint64(byChannel[ch]))
				sum += n
			}
			equal(t, "sum(sent_by_channel)", sum, st.Sent)
			slices.Sort(ids)
			equal(t, "distinct ids", len(slices.Compact(ids)), count)
			if l, ok := c.next(300 * time.Millisecond); ok && strings.Contains(l, "PRIVMSG") {
				t.Errorf("PRIVMSG after Count reached: %q", l)
			}
		})
	}
}

func TestServer_UndeliveredWhenNotJoined(t *testing.T) {
	const count = 2000
	s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.Count, c.StartPaused = 20000, 3, count, true })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan1")
	s.Resume()
	st := waitSettled(t, s)
	received := 0
	for {
		l, ok := c.next(300 * time.Millisecond)
		if !ok {
			break
		}
		if strings.Contains(l, " PRIVMSG #simchan1 :") {
			received++
		}
	}
	equal(t, "sent", st.Sent, uint64(received))
	equal(t, "sent_by_channel[simchan1]", st.SentByChannel["simchan1"], uint64(received))
	equal(t, "sent+undelivered", st.Sent+st.Undelivered, uint64(count))
	if st.Undelivered < count/2 {
		t.Errorf("undelivered = %d, want about 2/3 of %d", st.Undelivered, count)
	}
}

func TestServer_TwoConnectionsGetSameMessages(t *testing.T) {
	const count = 500
	s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.Count, c.StartPaused = 5000, 1, count, true })
	a, b := dial(t, s, "tcp"), dial(t, s, "ws")
	for _, c := range []*testClient{a, b} {
		c.login("simbot", "oauth:x", true)
		c.join(true, "simchan0")
	}
	s.Resume()
	idsA, _ := countPrivmsgs(t, a, count)
	idsB, _ := countPrivmsgs(t, b, count)
	if !slices.Equal(idsA, idsB) {
		t.Error("the two connections received different message ids")
	}
	st := waitSettled(t, s)
	equal(t, "sent (each message counted once)", st.Sent, uint64(count))
	// A connection's writer counts a write after it returns, which can be
	// after the client has read it and the in-flight count reached 0.
	eventually(t, "privmsgs_written == count on both connections", 5*time.Second, func() bool {
		st = s.Stats()
		n := 0
		for _, cs := range st.Conns {
			if cs.PrivmsgsWritten == uint64(count) {
				n++
			}
		}
		return n == len(st.Conns) && n == 2
	})
}

func TestServer_Reconnect(t *testing.T) {
	const grace = 400 * time.Millisecond
	s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.ReconnectGrace = 1000, 1, grace })
	old := dial(t, s, "tcp")
	old.login("simbot", "oauth:x", true)
	old.join(true, "simchan0")
	old.waitFor("a PRIVMSG", 2*time.Second, func(l string) bool { return strings.Contains(l, " PRIVMSG ") })

	code, body := httpPost(t, s, "/control/reconnect")
	equal(t, "status", code, http.StatusOK)
	equal(t, "affected", body["affected"], any(float64(1)))
	sentAt := time.Now()
	old.waitFor("RECONNECT", 2*time.Second, func(l string) bool { return l == ":tmi.twitch.tv RECONNECT" })

	// Make-before-break: the new connection overlaps with the old one.
	fresh := dial(t, s, "ws")
	fresh.login("simbot", "oauth:x", true)
	fresh.join(true, "simchan0")
	after := old.waitClosed(3 * time.Second)
	closedAfter := time.Since(sentAt)
	n := 0
	for _, l := range after {
		if strings.Contains(l, " PRIVMSG ") {
			n++
		}
	}
	if n == 0 {
		t.Error("old connection received no PRIVMSG during the grace period")
	}
	if closedAfter < grace*3/4 || closedAfter > grace+time.Second {
		t.Errorf("old connection closed %s after RECONNECT, want about %s", closedAfter, grace)
	}
	fresh.waitFor("PRIVMSG on the new connection", 2*time.Second, func(l string) bool { return strings.Contains(l, " PRIVMSG ") })
	st := s.Stats()
	equal(t, "reconnects_sent", st.ReconnectsSent, uint64(1))
	equal(t, "connections", st.Connections, 1)
}

func TestServer_ReconnectStorm(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Scenario, c.ReconnectEvery, c.ReconnectGrace = ScenarioReconnect, 200*time.Millisecond, 50*time.Millisecond
	})
	for range 2 {
		c := dial(t, s, "tcp")
		c.login("simbot", "oauth:x", true)
		c.waitFor("RECONNECT", 2*time.Second, func(l string) bool { return l == ":tmi.twitch.tv RECONNECT" })
		c.waitClosed(2 * time.Second)
	}
	if got := s.Stats().ReconnectsSent; got < 2 {
		t.Errorf("reconnects_sent = %d, want >= 2", got)
	}
}

func TestServer_DisconnectMidline(t *testing.T) {
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			s := startServer(t, func(c *Config) { c.Rate, c.Channels = 2000, 1 })
			c := dial(t, s, tr)
			c.login("simbot", "oauth:x", true)
			c.join(true, "simchan0")
			c.waitFor("a PRIVMSG", 2*time.Second, func(l string) bool { return strings.Contains(l, " PRIVMSG ") })
			code, body := httpPost(t, s, "/control/disconnect?midline=1")
			equal(t, "status", code, http.StatusOK)
			equal(t, "affected", body["affected"], any(float64(1)))
			c.waitClosed(3 * time.Second)
			c.mu.Lock()
			tail := c.tail
			c.mu.Unlock()
			if tail == "" || strings.HasSuffix(tail, "\n") {
				t.Errorf("tail before close = %q, want half a line", tail)
			}
			eventually(t, "connection removed", time.Second, func() bool { return s.Stats().Connections == 0 })
			st := s.Stats()
			equal(t, "disconnects", st.Disconnects, uint64(1))
			if st.Sent+st.Undelivered+st.Dropped > st.Generated {
				t.Errorf("outcomes %d+%d+%d exceed generated %d", st.Sent, st.Undelivered, st.Dropped, st.Generated)
			}
		})
	}
}

func TestServer_DisconnectAbrupt(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	id := s.Stats().Conns[0].ID
	code, _ := httpPost(t, s, "/control/disconnect?conn="+strconv.FormatUint(id, 10))
	equal(t, "status", code, http.StatusOK)
	c.waitClosed(2 * time.Second)
	code, _ = httpPost(t, s, "/control/disconnect?conn=abc")
	equal(t, "status for bad conn", code, http.StatusBadRequest)
}

func TestServer_SlowConsumerDropped(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Rate, c.Channels, c.QueueBytes, c.SlowTimeout = 20000, 1, 64<<10, 300*time.Millisecond
	})
	// A client that joins and then never reads: the kernel buffers fill,
	// then its queue.
	nc, err := net.Dial("tcp", s.TCPAddr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("CAP REQ :" + allCaps + "\r\nNICK slowbot\r\nJOIN #simchan0\r\n")); err != nil {
		t.Fatal(err)
	}
	reader := dial(t, s, "tcp") // a healthy client in the same channel
	reader.login("goodbot", "oauth:x", true)
	reader.join(true, "simchan0")
	go func() { // keep the healthy client's buffer drained
		for range reader.lines {
		}
	}()
	eventually(t, "slow disconnect", 10*time.Second, func() bool { return s.Stats().SlowDisconnects >= 1 })
	st := s.Stats()
	equal(t, "connections", st.Connections, 1)
	equal(t, "remaining nick", st.Conns[0].Nick, "goodbot")
	if st.DroppedSlow == 0 {
		t.Error("dropped_slow = 0, want > 0")
	}
	// Messages were still delivered to the healthy reader: no message is dropped.
	s.Stop()
	st = waitSettled(t, s)
	equal(t, "sent+undelivered+dropped", st.Sent+st.Undelivered+st.Dropped, st.Generated)
}

func TestServer_JoinRateLimit(t *testing.T) {
	s := startServer(t, func(c *Config) { c.JoinLimit, c.JoinWindow, c.Channels = 3, time.Minute, 5 })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.send("JOIN #simchan0,#simchan1,#simchan2,#simchan3,#simchan4")
	var joins, notices []string
	for len(joins)+len(notices) < 5 {
		l, ok := c.next(2 * time.Second)
		if !ok {
			t.Fatalf("joins %v notices %v", joins, notices)
		}
		m := parseIRC(l)
		switch {
		case m.command == "JOIN":
			joins = append(joins, m.params[0])
		case m.command == "NOTICE":
			equal(t, "notice msg-id", m.tags["msg-id"], "msg_ratelimit")
			notices = append(notices, m.params[0])
		}
	}
	equal(t, "joins", strings.Join(joins, ","), "#simchan0,#simchan1,#simchan2")
	equal(t, "rate-limited", strings.Join(notices, ","), "#simchan3,#simchan4")
	equal(t, "joins_rate_limited", s.Stats().JoinsRateLimited, uint64(2))
}

func TestServer_PingPong(t *testing.T) {
	s := startServer(t, func(c *Config) { c.PingInterval, c.PongTimeout = 100*time.Millisecond, 300*time.Millisecond })
	good := dial(t, s, "tcp")
	good.login("goodbot", "oauth:x", true)
	silent := dial(t, s, "tcp")
	silent.login("silentbot", "oauth:x", true)
	for range 3 {
		good.waitFor("PING", 2*time.Second, func(l string) bool { return l == "PING :tmi.twitch.tv" })
		good.send("PONG :tmi.twitch.tv")
	}
	silent.waitClosed(3 * time.Second)
	st := s.Stats()
	equal(t, "connections", st.Connections, 1)
	equal(t, "remaining nick", st.Conns[0].Nick, "goodbot")
	equal(t, "ping_timeouts", st.PingTimeouts, uint64(1))
}

func TestServer_ClearChatAndClearMsg(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Rate, c.Channels = 300, 1 })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0")
	pm := parseIRC(c.waitFor("a PRIVMSG", 2*time.Second, func(l string) bool { return strings.Contains(l, " PRIVMSG ") }))
	login, _, _ := strings.Cut(pm.prefix, "!")
	userID, msgID := pm.tags["user-id"], pm.tags["id"]
	text, _ := bodyText(pm.trailing())
	isCMD := func(cmd string) func(string) bool {
		return func(l string) bool { return parseIRC(l).command == cmd }
	}

	code, _ := httpPost(t, s, "/control/clearmsg?channel=simchan0&msg_id="+msgID)
	equal(t, "clearmsg status", code, http.StatusOK)
	m := parseIRC(c.waitFor("CLEARMSG", 2*time.Second, isCMD("CLEARMSG")))
	equal(t, "login", m.tags["login"], login)
	equal(t, "target-msg-id", m.tags["target-msg-id"], msgID)
	equal(t, "room-id (empty like Twitch)", m.tags["room-id"], "")
	equal(t, "trailing", m.trailing(), pm.trailing())
	equal(t, "tag keys", strings.Join(m.tagKeys, ","), "login,room-id,target-msg-id,tmi-sent-ts")
	_ = text

	code, _ = httpPost(t, s, "/control/clearchat?channel=simchan0&user="+login+"&duration=600")
	equal(t, "timeout status", code, http.StatusOK)
	m = parseIRC(c.waitFor("CLEARCHAT", 2*time.Second, isCMD("CLEARCHAT")))
	equal(t, "timeout tags", strings.Join(m.tagKeys, ","), "ban-duration,room-id,target-user-id,tmi-sent-ts")
	equal(t, "ban-duration", m.tags["ban-duration"], "600")
	equal(t, "target-user-id", m.tags["target-user-id"], userID)
	equal(t, "room-id", m.tags["room-id"], strconv.Itoa(DefaultRoomIDBase))
	equal(t, "trailing", m.trailing(), login)

	code, _ = httpPost(t, s, "/control/clearchat?channel=simchan0&user_id="+userID)
	equal(t, "ban status", code, http.StatusOK)
	m = parseIRC(c.waitFor("CLEARCHAT", 2*time.Second, isCMD("CLEARCHAT")))
	equal(t, "ban tags", strings.Join(m.tagKeys, ","), "room-id,target-user-id,tmi-sent-ts")
	equal(t, "trailing", m.trailing(), login)

	code, _ = httpPost(t, s, "/control/clearchat?channel=simchan0")
	equal(t, "clear status", code, http.StatusOK)
	m = parseIRC(c.waitFor("CLEARCHAT", 2*time.Second, isCMD("CLEARCHAT")))
	equal(t, "clear tags", strings.Join(m.tagKeys, ","), "room-id,tmi-sent-ts")
	equal(t, "clear params", len(m.params), 1)

	code, _ = httpPost(t, s, "/control/clearmsg?channel=simchan0&msg_id=00000000-0000-4000-8000-000000000000")
	equal(t, "unknown msg status", code, http.StatusNotFound)
	code, _ = httpPost(t, s, "/control/clearchat?channel=simchan0&user=nosuchuser_xyz")
	equal(t, "unknown user status", code, http.StatusNotFound)

	// The banned user no longer chats.
	time.Sleep(50 * time.Millisecond)
	g0 := s.Stats().Generated
	for end := time.Now().Add(time.Second); time.Now().Before(end); {
		l, ok := c.next(500 * time.Millisecond)
		if !ok {
			break
		}
		if m := parseIRC(l); m.command == "PRIVMSG" && m.tags["user-id"] == userID {
			if ts, _ := strconv.ParseInt(m.tags["tmi-sent-ts"], 10, 64); ts > time.Now().Add(-400*time.Millisecond).UnixMilli() {
				t.Errorf("banned user %s still chats: %q", login, l)
			}
		}
	}
	if s.Stats().Generated == g0 {
		t.Error("generation stalled")
	}
	if !s.Unban(login) {
		t.Errorf("Unban(%q) = false", login)
	}
}

func TestGenerator_MutedUsersDoNotChat(t *testing.T) {
	g, _ := testGenerator(t, func(c *Config) { c.Weights = Weights{Abusive: 1} })
	pl := g.pop.pools[PersonaAbusive]
	for i := pl.start; i < pl.start+pl.n-1; i++ { // all but the last one
		g.mute(i, 2000)
	}
	var m msgMeta
	for i := range 2000 {
		g.next(nil, 1000, nil, &m)
		if m.persona == PersonaAbusive && m.user != pl.start+pl.n-1 {
			t.Fatalf("message %d from muted user %d", i, m.user)
		}
	}
	g.next(nil, 3000, nil, &m) // timeouts expire
	if m.persona != PersonaAbusive {
		t.Errorf("after the timeout persona = %s, want abusive", m.persona)
	}
}

func TestServer_Raid(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Rate, c.Channels = 200, 1 })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0")
	code, _ := httpPost(t, s, "/control/raid?channel=simchan0&viewers=50&duration=1s&multiplier=10")
	equal(t, "raid status", code, http.StatusAccepted)
	m := parseIRC(c.waitFor("USERNOTICE", 2*time.Second, func(l string) bool { return strings.Contains(l, " USERNOTICE ") }))
	equal(t, "msg-id", m.tags["msg-id"], "raid")
	equal(t, "msg-param-viewerCount", m.tags["msg-param-viewerCount"], "50")
	equal(t, "system-msg", m.tags["system-msg"], "50 raiders from "+m.tags["display-name"]+" have joined!")
	equal(t, "login == msg-param-login", m.tags["login"], m.tags["msg-param-login"])
	equal(t, "room-id", m.tags["room-id"], strconv.Itoa(DefaultRoomIDBase))
	if !uuidV4Re.MatchString(m.tags["id"]) {
		t.Errorf("raid id %q", m.tags["id"])
	}
	raiders, total := map[string]bool{}, 0
	deadline := time.Now().Add(800 * time.Millisecond)
	for time.Now().Before(deadline) {
		l, ok := c.next(time.Second)
		if !ok {
			break
		}
		if pm := parseIRC(l); pm.command == "PRIVMSG" {
			total++
			if u, ok := s.LookupUser(pm.tags["user-id"]); ok && u.Persona == "raider" {
				raiders[u.ID] = true
			}
		}
	}
	// Normal 200/s plus 9x raid burst: about 1600 messages in 0.8 s.
	if total < 900 {
		t.Errorf("received %d PRIVMSGs in 0.8 s of raid, want a 10x burst (~1600)", total)
	}
	if len(raiders) < 25 || len(raiders) > 50 {
		t.Errorf("%d distinct raiders, want many of the 50", len(raiders))
	}
	equal(t, "raids", s.Stats().Raids, uint64(1))
	code, _ = httpPost(t, s, "/control/raid?channel=nosuchchannel")
	equal(t, "unknown channel status", code, http.StatusNotFound)
}

func TestServer_Inject(t *testing.T) {
	s := startServer(t, nil)
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "otherchannel")
	const line = "@room-id=1;slow=5 :tmi.twitch.tv ROOMSTATE #otherchannel"
	equal(t, "Inject", s.Inject("#otherchannel", []byte(line)), 1)
	c.expect(line)
	equal(t, "Inject to an empty channel", s.Inject("simchan1", []byte(line)), 0)
	equal(t, "RoomID", s.RoomID("otherchannel"), hashRoomID("otherchannel"))
	ch, ok := s.ChannelByRoomID(strconv.Itoa(DefaultRoomIDBase + 1))
	if !ok || ch != "simchan1" {
		t.Errorf("ChannelByRoomID = %q, %v; want simchan1", ch, ok)
	}
}

func TestServer_TruthFileAndLookup(t *testing.T) {
	const count = 800
	path := filepath.Join(t.TempDir(), "truth.jsonl")
	s := startServer(t, func(c *Config) {
		c.Rate, c.Channels, c.Count, c.WaitForJoin, c.TruthFile = 10000, 2, count, true, path
	})
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0", "simchan1")
	ids, _ := countPrivmsgs(t, c, count)
	waitSettled(t, s)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []TruthRecord
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		var r TruthRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("truth line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	equal(t, "truth records", len(recs), count)
	equal(t, "truth_records stat", s.Stats().TruthRecords, uint64(count))
	for i := range recs {
		if recs[i].MsgID != ids[i] {
			t.Fatalf("truth[%d].msg_id = %s, want %s (received order)", i, recs[i].MsgID, ids[i])
		}
	}
	last := recs[len(recs)-1]
	got, ok := s.LookupMessage(last.MsgID)
	if !ok || got != last {
		t.Errorf("LookupMessage(%s) = %+v, %v; want %+v", last.MsgID, got, ok, last)
	}
	u, ok := s.LookupUser(last.Login)
	if !ok || u.ID != last.UserID || u.Persona != last.Persona {
		t.Errorf("LookupUser(%s) = %+v, %v", last.Login, u, ok)
	}
	resp, err := http.Get(s.ControlURL() + "/control/lookup?msg_id=" + last.MsgID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var viaHTTP TruthRecord
	if err := json.NewDecoder(resp.Body).Decode(&viaHTTP); err != nil || viaHTTP != last {
		t.Errorf("GET /control/lookup = %+v, %v; want %+v", viaHTTP, err, last)
	}
}

func TestServer_WaitForJoin(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Rate, c.Channels, c.WaitForJoin = 5000, 2, true })
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0")
	time.Sleep(100 * time.Millisecond)
	if st := s.Stats(); st.Generated != 0 || st.Generating {
		t.Fatalf("generated %d (generating=%v) before every channel was joined", st.Generated, st.Generating)
	}
	c.join(true, "simchan1")
	eventually(t, "generation start", 2*time.Second, func() bool { return s.Stats().Generated > 0 })
}

func TestControl_HTTP(t *testing.T) {
	s := startServer(t, func(c *Config) { c.Rate = 100 })
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/control/rate?value=250", http.StatusOK},
		{"POST", "/control/rate?value=abc", http.StatusBadRequest},
		{"POST", "/control/rate?value=-1", http.StatusBadRequest},
		{"GET", "/control/rate?value=1", http.StatusMethodNotAllowed},
		{"POST", "/control/raid?viewers=0", http.StatusBadRequest},
		{"POST", "/control/raid?duration=xyz", http.StatusBadRequest},
		{"POST", "/control/pause", http.StatusOK},
		{"POST", "/control/resume", http.StatusOK},
		{"GET", "/healthz", http.StatusOK},
		{"GET", "/stats", http.StatusOK},
		{"GET", "/control/lookup?user=nobody_here", http.StatusNotFound},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.ControlURL()+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.want)
		}
	}
	equal(t, "rate after POST", s.Rate(), 250.0)
	code, _ := httpPost(t, s, "/control/stop")
	equal(t, "stop status", code, http.StatusOK)
	select {
	case <-s.GenerationDone():
	case <-time.After(2 * time.Second):
		t.Fatal("generation did not stop")
	}
	if st := getStats(t, s); !st.Done || st.Generating {
		t.Errorf("after stop: done=%v generating=%v", st.Done, st.Generating)
	}
	code, _ = httpPost(t, s, "/control/raid")
	equal(t, "raid after stop", code, http.StatusConflict)
}

func TestServer_RaidScenario(t *testing.T) {
	s := startServer(t, func(c *Config) {
		c.Scenario, c.RaidEvery, c.RaidDuration, c.Rate, c.Channels = ScenarioRaid, 150*time.Millisecond, 50*time.Millisecond, 100, 1
	})
	c := dial(t, s, "tcp")
	c.login("simbot", "oauth:x", true)
	c.join(true, "simchan0")
	for range 2 {
		m := parseIRC(c.waitFor("raid USERNOTICE", 2*time.Second, func(l string) bool { return strings.Contains(l, " USERNOTICE #simchan0") }))
		equal(t, "msg-id", m.tags["msg-id"], "raid")
		equal(t, "msg-param-viewerCount", m.tags["msg-param-viewerCount"], strconv.Itoa(DefaultRaidViewers))
	}
	if got := s.Stats().Raids; got < 2 {
		t.Errorf("raids = %d, want >= 2", got)
	}
}

func TestServer_DurationLimit(t *testing.T) {
	const rate, d = 2000, 400 * time.Millisecond
	s := startServer(t, func(c *Config) { c.Rate, c.Duration, c.Channels = rate, d, 1 })
	start := time.Now()
	select {
	case <-s.GenerationDone():
	case <-time.After(5 * time.Second):
		t.Fatal("generation did not stop after Duration")
	}
	// Generation starts inside startServer, a little before start.
	if el := time.Since(start); el < d-100*time.Millisecond || el > d+time.Second {
		t.Errorf("generation ran %s, want about %s", el, d)
	}
	if got := s.Stats().Generated; got < rate*0.3 || got > rate*0.5 {
		t.Errorf("generated %d in %s at %d/s, want about %d", got, d, rate, int(rate*d.Seconds()))
	}
}
