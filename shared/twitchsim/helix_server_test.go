package twitchsim

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// helixDo sends a Helix request with the dev credentials to the server's
// control listener and returns the status and body.
func helixDo(t *testing.T, s *Server, method, pathAndQuery, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, s.ControlURL()+pathAndQuery, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+DevHelixToken)
	req.Header.Set("Client-Id", DevHelixClientID)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, pathAndQuery, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d, want 200", url, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: decode: %v", url, err)
	}
}

// TestServer_HelixAndModerators runs the whole moderation loop against a
// real Server, a raw IRC client and a real Redis: a timeout posted to
// <control>/helix reaches chat as CLEARCHAT; the simulated moderators lift
// it (the user was benign), which lands on the mod stream as untimeout; and
// they act in chat on the abusive messages nobody handled.
func TestServer_HelixAndModerators(t *testing.T) {
	addr := redistest.Start(t)
	const modStream = "test:mod"
	sink := NewRedisModSink(addr, modStream)
	t.Cleanup(func() { _ = sink.Close() })
	hc := DevHelixConfig()
	mc := DefaultModeratorsConfig()
	mc.MissShare, mc.TimeoutShare, mc.ReverseShare = 1, 0.5, 1
	mc.MissDelay, mc.ReverseDelay = 300*time.Millisecond, 300*time.Millisecond
	s := startServer(t, func(c *Config) {
		c.Channels, c.Rate, c.WaitForJoin = 1, 200, true
		c.Weights = Weights{Viewer: 3, Abusive: 1}
		c.Helix, c.Moderators, c.ModSink, c.ModeratorTick = &hc, &mc, sink, 20*time.Millisecond
	})
	cl := dial(t, s, "tcp")
	cl.login("justinfan4711", "", true)
	cl.join(true, "simchan0")

	bot := BotUserID(DevBotLogin)
	var (
		victim, victimLogin, room string
		sawTimeout                bool
		humanClearMsg             int
		humanClearChat            int
		abusiveUsers              = map[string]bool{}
	)
	deadline := time.Now().Add(15 * time.Second)
	for !sawTimeout || humanClearMsg == 0 || humanClearChat == 0 {
		line, ok := cl.next(time.Until(deadline))
		if !ok {
			t.Fatalf("timed out: system timeout seen %t, human CLEARMSGs %d, human CLEARCHATs %d", sawTimeout, humanClearMsg, humanClearChat)
		}
		m := parseIRC(line)
		switch m.command {
		case "PRIVMSG":
			rec, ok := s.LookupMessage(m.tags["id"])
			if !ok {
				t.Fatalf("LookupMessage(%q) of a delivered PRIVMSG: not found", m.tags["id"])
			}
			if rec.Abusive {
				abusiveUsers[rec.UserID] = true
			}
			if victim != "" || rec.Abusive || rec.Persona != PersonaViewer.String() {
				continue
			}
			// A benign viewer: time it out through Helix.
			victim, victimLogin, room = rec.UserID, rec.Login, rec.RoomID
			q := "/helix/moderation/bans?broadcaster_id=" + room + "&moderator_id=" + bot
			if st, body := helixDo(t, s, "POST", q, hxTimeoutBody(victim, 600)); st != http.StatusOK {
				t.Fatalf("POST %s = %d %s, want 200", q, st, body)
			}
		case "CLEARCHAT":
			target := m.tags["target-user-id"]
			switch {
			case target == victim && victim != "":
				equal(t, "system CLEARCHAT ban-duration", m.tags["ban-duration"], "600")
				equal(t, "system CLEARCHAT login", m.trailing(), victimLogin)
				sawTimeout = true
			case abusiveUsers[target]:
				equal(t, "human CLEARCHAT ban-duration", m.tags["ban-duration"], "600")
				humanClearChat++
			default:
				t.Errorf("CLEARCHAT of %q, neither the system's victim %q nor an abusive user: %s", target, victim, line)
			}
		case "CLEARMSG":
			rec, ok := s.LookupMessage(m.tags["target-msg-id"])
			if !ok || !rec.Abusive {
				t.Errorf("human CLEARMSG of a message that is not abusive (found %t): %s", ok, line)
			}
			equal(t, "CLEARMSG login", m.tags["login"], rec.Login)
			humanClearMsg++
		}
	}

	// The benign victim's timeout is lifted and published.
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	var entries []redis.XMessage
	eventually(t, "an untimeout on "+modStream, 5*time.Second, func() bool {
		var err error
		entries, err = rdb.XRange(context.Background(), modStream, "-", "+").Result()
		return err == nil && len(entries) > 0
	})
	if len(entries) != 1 {
		t.Fatalf("%s has %d entries, want 1 (the one wrong timeout)", modStream, len(entries))
	}
	got, err := event.DecodeMod(entries[0].Values)
	if err != nil {
		t.Fatalf("DecodeMod(%v) = %v", entries[0].Values, err)
	}
	want := event.Mod{
		Kind: event.ModUntimeout, Source: "sim", RoomID: room, Channel: "simchan0",
		TargetUserID: victim, TargetLogin: victimLogin, ModeratorLogin: DefaultModLogin,
		TmiSentTsMs: got.TmiSentTsMs, ReceivedAtUs: got.ReceivedAtUs,
	}
	if got != want {
		t.Errorf("mod event = %+v, want %+v", got, want)
	}
	if age := time.Since(time.UnixMilli(got.TmiSentTsMs)); got.TmiSentTsMs == 0 || age < 0 || age > time.Minute {
		t.Errorf("mod event tmi_sent_ts %d is %s old, want a recent time", got.TmiSentTsMs, age)
	}
	if s.Helix().Banned(room, victim) {
		t.Errorf("Banned(%s, %s) after the reversal = true, want false", room, victim)
	}

	// GET /stats carries both counter sets.
	var raw map[string]json.RawMessage
	getJSON(t, s.ControlURL()+"/stats", &raw)
	for _, k := range []string{"helix", "moderators"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("GET /stats has no %q", k)
		}
	}
	st := getStats(t, s)
	if st.Helix == nil || st.Moderators == nil {
		t.Fatalf("Stats helix=%v moderators=%v, want both", st.Helix, st.Moderators)
	}
	if h := *st.Helix; h.Requests != 1 || h.Accepted != 1 {
		t.Errorf("stats.helix = %+v, want 1 request, 1 accepted", h)
	}
	if m := *st.Moderators; m.WrongBans != 1 || m.Reversed != 1 || m.HumanDeletes < 1 || m.HumanTimeouts < 1 || m.Observed < m.Abusive || m.Abusive < 2 {
		t.Errorf("stats.moderators = %+v, want 1 wrong ban reversed, human deletes and timeouts", m)
	}

	// GET /control/helix-actions lists the system timeout and the human untimeout.
	var acts []HelixAction
	getJSON(t, s.ControlURL()+"/control/helix-actions", &acts)
	var sys, lifted int
	for _, a := range acts {
		switch {
		case !a.Human && a.Kind == event.ModTimeout && a.UserID == victim && a.ModeratorID == bot && a.DurationS == 600:
			sys++
		case a.Human && a.Kind == event.ModUntimeout && a.UserID == victim:
			lifted++
		case !a.Human:
			t.Errorf("unexpected system action %+v", a)
		}
	}
	if sys != 1 || lifted != 1 {
		t.Errorf("helix-actions: %d system timeouts and %d human untimeouts of %s, want 1 each", sys, lifted, victim)
	}
}

// TestServer_HelixFaultsEndpoint checks the fault control endpoint on the
// server's control listener.
func TestServer_HelixFaultsEndpoint(t *testing.T) {
	hc := DevHelixConfig()
	s := startServer(t, func(c *Config) { c.Helix = &hc })
	room, bot := s.RoomID("simchan0"), BotUserID(DevBotLogin)
	warn := "/helix/moderation/warnings?broadcaster_id=" + room + "&moderator_id=" + bot
	body := `{"data":{"user_id":"123","reason":"be nice"}}`

	if st, b := httpPost(t, s, "/control/helix-faults?status=503&count=1"); st != http.StatusOK || b["faults"] == nil {
		t.Fatalf("POST /control/helix-faults = %d %v, want 200 with faults", st, b)
	}
	if st, b := helixDo(t, s, "POST", warn, body); st != http.StatusServiceUnavailable {
		t.Errorf("warn after a 503 fault = %d %s, want 503", st, b)
	}
	if st, b := helixDo(t, s, "POST", warn, body); st != http.StatusOK {
		t.Errorf("warn after the fault was used up = %d %s, want 200", st, b)
	}
	if st, _ := httpPost(t, s, "/control/helix-faults?status=200&count=1"); st != http.StatusBadRequest {
		t.Errorf("POST /control/helix-faults?status=200 = %d, want 400", st)
	}
	if st, b := httpPost(t, s, "/control/helix-faults?status=429&share=1"); st != http.StatusOK {
		t.Fatalf("POST /control/helix-faults?status=429&share=1 = %d %v", st, b)
	}
	req, _ := http.NewRequest(http.MethodDelete, s.ControlURL()+"/control/helix-faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var fb struct {
		Faults HelixFaults `json:"faults"`
		Stats  HelixStats  `json:"stats"`
	}
	err = json.NewDecoder(resp.Body).Decode(&fb)
	resp.Body.Close()
	if err != nil || fb.Faults != (HelixFaults{}) || fb.Stats.Faults != 1 || fb.Stats.Accepted != 1 {
		t.Errorf("DELETE /control/helix-faults = %+v, %v; want no faults, stats with 1 fault and 1 accepted", fb, err)
	}
	if st, b := helixDo(t, s, "POST", warn, body); st != http.StatusOK {
		t.Errorf("warn after DELETE /control/helix-faults = %d %s, want 200", st, b)
	}
	if st, b := helixDo(t, s, "POST", "/helix/moderation/warnings?broadcaster_id="+room+"&moderator_id=1", body); st != http.StatusUnauthorized {
		t.Errorf("warn with a foreign moderator_id = %d %s, want 401", st, b)
	}
}

// TestServer_StatsWithoutHelix checks that /stats has no Helix or
// moderator counters when they are off.
func TestServer_StatsWithoutHelix(t *testing.T) {
	s := startServer(t, nil)
	var raw map[string]json.RawMessage
	getJSON(t, s.ControlURL()+"/stats", &raw)
	for _, k := range []string{"helix", "moderators"} {
		if _, ok := raw[k]; ok {
			t.Errorf("GET /stats has %q with Helix off", k)
		}
	}
	if s.Helix() != nil || s.Moderators() != nil {
		t.Errorf("Helix() = %v, Moderators() = %v, want nil", s.Helix(), s.Moderators())
	}
	resp, err := http.Post(s.ControlURL()+"/helix/moderation/bans", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST /helix/moderation/bans with Helix off = %d, want 404", resp.StatusCode)
	}
}

// TestServer_HumanDeleteOfForgottenMessage checks that a human moderator's
// late CLEARMSG carries the right login and text even when the message has
// left the server's lookup window (RecentMessages).
func TestServer_HumanDeleteOfForgottenMessage(t *testing.T) {
	hc, mc := DevHelixConfig(), DefaultModeratorsConfig()
	mc.MissShare, mc.TimeoutShare = 1, 0 // every missed message is deleted
	const count = 20
	s := startServer(t, func(c *Config) {
		c.Channels, c.Rate, c.Count, c.WaitForJoin, c.RecentMessages = 1, 500, count, true, 1
		c.Weights = Weights{Abusive: 1}
		c.Helix, c.Moderators, c.ModeratorTick = &hc, &mc, 0
	})
	cl := dial(t, s, "tcp")
	cl.login("justinfan4712", "", true)
	cl.join(true, "simchan0")
	sent := map[string]ircMsg{} // msg id -> PRIVMSG
	for len(sent) < count {
		m := parseIRC(cl.waitFor("PRIVMSG", 5*time.Second, func(l string) bool { return strings.Contains(l, " PRIVMSG #simchan0 ") }))
		sent[m.tags["id"]] = m
	}
	waitSettled(t, s)
	if err := s.Moderators().Tick(context.Background(), time.Now().Add(mc.MissDelay+time.Second)); err != nil {
		t.Fatalf("Tick() = %v", err)
	}
	forgotten := 0
	for range count {
		m := parseIRC(cl.waitFor("CLEARMSG", 5*time.Second, func(l string) bool { return strings.Contains(l, " CLEARMSG #simchan0 ") }))
		p, ok := sent[m.tags["target-msg-id"]]
		if !ok {
			t.Fatalf("CLEARMSG of an unknown message: %s", m.raw)
		}
		delete(sent, m.tags["target-msg-id"])
		login, _, _ := strings.Cut(p.prefix, "!")
		equal(t, "CLEARMSG login", m.tags["login"], login)
		equal(t, "CLEARMSG text", m.trailing(), p.trailing())
		if _, ok := s.LookupMessage(m.tags["target-msg-id"]); !ok {
			forgotten++
		}
	}
	if forgotten != count-1 {
		t.Errorf("%d of the deleted messages had left the lookup window, want %d (RecentMessages 1)", forgotten, count-1)
	}
	if st := s.Moderators().Stats(); st.HumanDeletes != count {
		t.Errorf("HumanDeletes = %d, want %d", st.HumanDeletes, count)
	}
}
