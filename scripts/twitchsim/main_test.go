package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{
		"-rate", "60000", "-channels", "100", "-count", "5000", "-duration", "2m", "-seed", "42",
		"-scenario", "reconnect", "-reconnect-every", "15s", "-truth-file", "/tmp/t.jsonl",
		"-tokens", "abc, oauth:def", "-weights", "abusive=9", "-wait-join", "-tcp", "", "-log-level", "debug",
	}, noEnv, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags = %v", err)
	}
	c := o.cfg
	checks := []struct {
		name      string
		got, want any
	}{
		{"Rate", c.Rate, 60000.0}, {"Channels", c.Channels, 100}, {"Count", c.Count, int64(5000)},
		{"Duration", c.Duration, 2 * time.Minute}, {"Seed", c.Seed, uint64(42)},
		{"Scenario", c.Scenario, twitchsim.ScenarioReconnect}, {"ReconnectEvery", c.ReconnectEvery, 15 * time.Second},
		{"TruthFile", c.TruthFile, "/tmp/t.jsonl"}, {"Tokens", strings.Join(c.Tokens, "|"), "abc|def"},
		{"Weights.Abusive", c.Weights.Abusive, 9.0}, {"Weights.Viewer", c.Weights.Viewer, twitchsim.DefaultWeights().Viewer},
		{"WaitForJoin", c.WaitForJoin, true}, {"TCPAddr", c.TCPAddr, ""}, {"WSAddr", c.WSAddr, twitchsim.DefaultWSAddr},
		{"logLevel", o.logLevel.String(), "DEBUG"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	for _, bad := range [][]string{{"-rate", "-5"}, {"-scenario", "chaos"}, {"-weights", "x=1"}, {"-log-level", "loud"}, {"extra"}} {
		if _, err := parseFlags(bad, noEnv, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want error", bad)
		}
	}
}

func noEnv(string) string { return "" }

func TestParseFlags_HelixDefaults(t *testing.T) {
	o, err := parseFlags(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags() = %v", err)
	}
	h := o.cfg.Helix
	if h == nil {
		t.Fatal("Helix = nil, want the dev Helix on by default")
	}
	bot := twitchsim.BotUserID(twitchsim.DevBotLogin)
	checks := []struct {
		name      string
		got, want any
	}{
		{"ClientID", h.ClientID, "streamsafe-sim"}, {"Tokens", fmt.Sprint(h.Tokens), "map[sim-token:" + bot + "]"},
		{"PointsPerMinute", h.PointsPerMinute, 800}, {"devToken", o.devToken, true},
		{"Moderators", o.cfg.Moderators == nil, true}, {"ModSink", o.cfg.ModSink == nil, true},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestParseFlags_Moderation(t *testing.T) {
	o, err := parseFlags([]string{
		"-seed", "7", "-helix-client-id", "cid", "-helix-token", "t1=11, oauth:t2=22", "-helix-token", "t3=33",
		"-helix-points-per-minute", "120", "-mods", "-mod-miss-share", "0.9", "-mod-miss-delay", "3s",
		"-mod-timeout-share", "0.25", "-mod-reverse-share", "0.75", "-mod-reverse-delay", "4s", "-mod-tick", "50ms",
		"-redis-addr", "127.0.0.1:6390", "-mod-stream", "x:mod",
	}, func(k string) string {
		if k == envHelixTokens {
			return "env=99" // the flag wins
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags = %v", err)
	}
	h, m := o.cfg.Helix, o.cfg.Moderators
	if h == nil || m == nil {
		t.Fatalf("Helix = %v, Moderators = %v; want both", h, m)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"ClientID", h.ClientID, "cid"}, {"Tokens", fmt.Sprint(h.Tokens), "map[t1:11 t2:22 t3:33]"},
		{"PointsPerMinute", h.PointsPerMinute, 120}, {"Helix.Seed", h.Seed, uint64(7)}, {"devToken", o.devToken, false},
		{"MissShare", m.MissShare, 0.9}, {"MissDelay", m.MissDelay, 3 * time.Second},
		{"TimeoutShare", m.TimeoutShare, 0.25}, {"ReverseShare", m.ReverseShare, 0.75},
		{"ReverseDelay", m.ReverseDelay, 4 * time.Second}, {"Moderators.Seed", m.Seed, uint64(7)},
		{"ModeratorTick", o.cfg.ModeratorTick, 50 * time.Millisecond},
		{"redisAddr", o.redisAddr, "127.0.0.1:6390"}, {"modStream", o.modStream, "x:mod"},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}

	o, err = parseFlags(nil, func(k string) string {
		if k == envHelixTokens {
			return " e1=1 ,e2=2"
		}
		return ""
	}, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags with %s = %v", envHelixTokens, err)
	}
	if got := fmt.Sprint(o.cfg.Helix.Tokens); got != "map[e1:1 e2:2]" || o.devToken {
		t.Errorf("Tokens from %s = %s (dev token %t), want map[e1:1 e2:2] and no dev token", envHelixTokens, got, o.devToken)
	}

	o, err = parseFlags([]string{"-helix-client-id", ""}, noEnv, io.Discard)
	if err != nil || o.cfg.Helix != nil {
		t.Errorf("parseFlags(-helix-client-id '') = Helix %v, %v; want Helix off", o.cfg.Helix, err)
	}

	bad := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-helix-token", "secret-without-user"}, "token=userid"},
		{[]string{"-helix-token", "t=1,t=2"}, "user ids"},
		{[]string{"-helix-token", ","}, "no token=userid"},
		{[]string{"-helix-points-per-minute", "0"}, "PointsPerMinute"},
		{[]string{"-mod-miss-share", "0.9", "-redis-addr", "x:1"}, "-mod-miss-share, -redis-addr need -mods"},
		{[]string{"-mods", "-helix-client-id", ""}, "-mods needs Helix"},
		{[]string{"-mods", "-mod-reverse-share", "1.5"}, "shares"},
		{[]string{"-mods", "-mod-miss-delay", "0s"}, "delays"},
	}
	for _, tt := range bad {
		_, err := parseFlags(tt.args, noEnv, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseFlags(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-without-user") {
			t.Errorf("parseFlags(%q) error %q echoes the token", tt.args, err)
		}
	}
}

// startRun runs the command in the background and returns its start line,
// the rest of its stdout lines and its result.
func startRun(t *testing.T, ctx context.Context, args ...string) (startLine, chan string, chan error) {
	t.Helper()
	base := []string{"-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-control", "127.0.0.1:0"}
	o, err := parseFlags(append(base, args...), noEnv, io.Discard)
	if err != nil {
		t.Fatalf("parseFlags = %v", err)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := run(ctx, o, pw, io.Discard)
		pw.Close()
		done <- err
	}()
	out := make(chan string, 8)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			out <- sc.Text()
		}
		close(out)
	}()
	first := <-out
	var a startLine
	if err := json.Unmarshal([]byte(first), &a); err != nil || a.TCP == "" || !strings.HasPrefix(a.WS, "ws://") || !strings.HasPrefix(a.Control, "http://") {
		t.Fatalf("address line %q: %v", first, err)
	}
	return a, out, done
}

func TestRun_ExitWhenDone(t *testing.T) {
	const count = 300
	a, sc, done := startRun(t, context.Background(), "-rate", "5000", "-channels", "2", "-count", "300", "-wait-join", "-exit-when-done")
	nc, err := net.Dial("tcp", a.TCP)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write([]byte("CAP REQ :twitch.tv/tags twitch.tv/commands\r\nNICK testbot\r\nJOIN #simchan0,#simchan1\r\n")); err != nil {
		t.Fatal(err)
	}
	got := 0
	lines := bufio.NewScanner(nc)
	lines.Buffer(make([]byte, 64<<10), 64<<10)
	for got < count && lines.Scan() {
		if strings.Contains(lines.Text(), " PRIVMSG #") {
			got++
		}
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not exit after generation finished")
	}
	last := <-sc
	var st twitchsim.Stats
	if err := json.Unmarshal([]byte(last), &st); err != nil {
		t.Fatalf("stats line %q: %v", last, err)
	}
	if got != count || st.Generated != count || st.Sent != count || !st.Done {
		t.Errorf("client got %d; stats generated=%d sent=%d done=%v; want %d each", got, st.Generated, st.Sent, st.Done, count)
	}
}

func TestRun_StopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	_, sc, done := startRun(t, ctx, "-rate", "100")
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
	if last := <-sc; !strings.Contains(last, `"generated"`) {
		t.Errorf("final stdout line = %q, want stats JSON", last)
	}
}

// stopRun cancels a run and waits for it.
func stopRun(t *testing.T, cancel context.CancelFunc, done chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("run did not stop on cancel")
	}
}

// TestRun_StartLineHelixDefaults checks that Helix works with zero
// configuration: the start line names the base URL and dev credentials,
// and a timeout with them is accepted.
func TestRun_StartLineHelixDefaults(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, sc, done := startRun(t, ctx, "-rate", "0")
	defer cancel()
	bot := twitchsim.BotUserID(twitchsim.DevBotLogin)
	h := a.Helix
	if h == nil {
		t.Fatal("start line has no helix")
	}
	want := helixInfo{BaseURL: a.Control + "/helix", ClientID: "streamsafe-sim", PointsPerMinute: 800,
		Users: []helixUser{{UserID: bot, Login: "streamsafe_bot", Token: "sim-token"}}}
	if fmt.Sprint(*h) != fmt.Sprint(want) {
		t.Errorf("start line helix = %+v, want %+v", *h, want)
	}
	if a.Moderators != nil {
		t.Errorf("start line moderators = %+v without -mods, want none", *a.Moderators)
	}

	room := twitchsim.DefaultRoomIDBase + 1 // simchan1
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/moderation/bans?broadcaster_id=%d&moderator_id=%s", h.BaseURL, room, bot),
		strings.NewReader(`{"data":{"user_id":"12345","duration":60}}`))
	req.Header.Set("Authorization", "Bearer "+h.Users[0].Token)
	req.Header.Set("Client-Id", h.ClientID)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("POST %s = %d, want 200", req.URL, resp.StatusCode)
	}
	stopRun(t, cancel, done)
	var st twitchsim.Stats
	if err := json.Unmarshal([]byte(<-sc), &st); err != nil || st.Helix == nil || st.Helix.Accepted != 1 {
		t.Errorf("final stats helix = %+v (%v), want 1 accepted", st.Helix, err)
	}
}

// TestRun_StartLineModeration checks that the Helix and moderator flags
// reach the start line (tokens from flags are not printed) and that
// -redis-addr is checked at start.
func TestRun_StartLineModeration(t *testing.T) {
	addr := redistest.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	a, _, done := startRun(t, ctx, "-rate", "0", "-helix-client-id", "cid", "-helix-token", "tok-1=11,tok-2=22",
		"-helix-points-per-minute", "60", "-mods", "-mod-miss-share", "0.9", "-mod-miss-delay", "3s",
		"-mod-timeout-share", "0.25", "-mod-reverse-share", "0.75", "-mod-reverse-delay", "4s", "-mod-tick", "50ms",
		"-redis-addr", addr, "-mod-stream", "x:mod")
	defer stopRun(t, cancel, done)
	wantH := helixInfo{BaseURL: a.Control + "/helix", ClientID: "cid", PointsPerMinute: 60,
		Users: []helixUser{{UserID: "11"}, {UserID: "22"}}}
	if a.Helix == nil || fmt.Sprint(*a.Helix) != fmt.Sprint(wantH) {
		t.Errorf("start line helix = %+v, want %+v", a.Helix, wantH)
	}
	wantM := modsInfo{MissShare: 0.9, MissDelay: "3s", TimeoutShare: 0.25, ReverseShare: 0.75, ReverseDelay: "4s",
		Tick: "50ms", RedisAddr: addr, Stream: "x:mod"}
	if a.Moderators == nil || *a.Moderators != wantM {
		t.Errorf("start line moderators = %+v, want %+v", a.Moderators, wantM)
	}

	o, err := parseFlags([]string{"-ws", "", "-tcp", "", "-control", "", "-mods", "-redis-addr", "127.0.0.1:1"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if err := run(context.Background(), o, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "connect mod sink") {
		t.Errorf("run with an unreachable -redis-addr = %v, want a connect mod sink error", err)
	}
}
