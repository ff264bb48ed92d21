package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{
		"-rate", "60000", "-channels", "100", "-count", "5000", "-duration", "2m", "-seed", "42",
		"-scenario", "reconnect", "-reconnect-every", "15s", "-truth-file", "/tmp/t.jsonl",
		"-tokens", "abc, oauth:def", "-weights", "abusive=9", "-wait-join", "-tcp", "", "-log-level", "debug",
	}, io.Discard)
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
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("parseFlags(%q) = nil error, want error", bad)
		}
	}
}

// startRun runs the command in the background and returns its stdout lines.
func startRun(t *testing.T, ctx context.Context, args ...string) (addresses, chan string, chan error) {
	t.Helper()
	base := []string{"-ws", "127.0.0.1:0", "-tcp", "127.0.0.1:0", "-control", "127.0.0.1:0"}
	o, err := parseFlags(append(base, args...), io.Discard)
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
	var a addresses
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
