package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// testEnv sets the environment for a service on bus with its feature store
// on fs and returns the loaded config.
func testEnv(t *testing.T, bus, fs string) Config {
	t.Helper()
	clearEnv(t)
	for k, v := range map[string]string{
		"REDIS_ADDR": bus, "DECIDE_FEATURE_REDIS_ADDR": fs, "DECIDE_HTTP_ADDR": freeAddr(t),
		"DECIDE_POLICY_FILE": "policies/baseline-v1.json", "DECIDE_CONSUMER_PREFIX": "e2e",
		"DECIDE_BLOCK": "50ms", "DECIDE_EXPLORE_EPSILON": "0.1", "DECIDE_FEATURE_TIMEOUT": "500ms",
		"DECIDE_INFO_INTERVAL": "50ms", "DECIDE_SHUTDOWN_TIMEOUT": "5s",
	} {
		t.Setenv(k, v)
	}
	cfg, err := loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// startService runs the service until the test ends and waits until /ready
// answers 200. stop cancels it and returns run's error.
func startService(t *testing.T, cfg Config) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, logging.Discard()) }()
	stopped := false
	var runErr error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("run did not return within 10s of cancel")
			}
		}
		return runErr
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("run = %v", err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := httpGet("http://" + cfg.HTTPAddr + "/ready"); code == http.StatusOK {
			return stop
		}
		select {
		case err := <-done:
			t.Fatalf("run returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("service not ready within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpGet(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestRun_EndToEnd(t *testing.T) {
	busAddr := redistest.Start(t)
	fsAddr := redistest.Start(t)
	cfg := testEnv(t, busAddr, fsAddr)
	bus := redis.NewClient(&redis.Options{Addr: busAddr})
	defer bus.Close()
	ctx := context.Background()

	// A human ban first, so the banned user's history shows it.
	ban := event.Mod{Kind: event.ModBan, Source: "irc", Channel: "chan", TargetUserID: "u1", TmiSentTsMs: 1_700_000_000_000}
	if err := bus.XAdd(ctx, &redis.XAddArgs{Stream: cfg.Keys.Mod, Values: ban.Values(nil)}).Err(); err != nil {
		t.Fatal(err)
	}
	stop := startService(t, cfg)

	texts := []string{"hello everyone", "you are an idiot", "WHY IS NOBODY LISTENING TO ME RIGHT NOW", "gg", "kys loser idiot"}
	const n = 200
	for i := range n {
		c := event.Chat{MsgID: fmt.Sprintf("m-%03d", i), RoomID: "9", Channel: "chan", UserID: fmt.Sprint("u", i%7), Login: fmt.Sprint("l", i%7),
			Text: texts[i%len(texts)], TmiSentTsMs: 1_700_000_001_000 + int64(i)*20, FirstMsg: i < 7}
		if err := bus.XAdd(ctx, &redis.XAddArgs{Stream: cfg.Keys.Chat, Values: c.Values(nil)}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, _ := bus.XLen(ctx, cfg.Keys.Decisions).Result()
		if l == n {
			break
		}
		if l > n || time.Now().After(deadline) {
			t.Fatalf("decisions = %d, want %d", l, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, metrics := httpGet("http://" + cfg.HTTPAddr + "/metrics")
	for _, name := range []string{
		"streamsafe_decide_decisions_total", "streamsafe_decide_decision_latency_seconds_bucket",
		"streamsafe_decide_stage_duration_seconds_bucket{stage=\"store\"", "streamsafe_decide_consumer_lag",
		"streamsafe_decide_consumer_batch_size_bucket", "streamsafe_decide_mod_events_total{kind=\"ban\"} 1",
		"streamsafe_decide_fail_open_total",
	} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}

	checkMetricsDoc(t, metrics)

	if err := stop(); err != nil {
		t.Fatalf("run after SIGTERM = %v, want nil", err)
	}
	p, err := bus.XPending(ctx, cfg.Keys.Chat, cfg.Group).Result()
	if err != nil || p.Count != 0 {
		t.Errorf("pending after shutdown = %+v, %v; want 0", p, err)
	}

	xs, _ := bus.XRange(ctx, cfg.Keys.Decisions, "-", "+").Result()
	actions := map[string]int{}
	var sawBan bool
	for _, x := range xs {
		d, err := event.DecodeDecision(x.Values)
		if err != nil {
			t.Fatal(err)
		}
		actions[d.ActionFinal.String()]++
		if d.UserID == "u1" && d.Snapshot[11] == 1 {
			sawBan = true
		}
		if d.PolicyVersion != "baseline-v1" || d.FailureReason != "" {
			t.Errorf("decision %s: policy %q failure %q", d.SrcID, d.PolicyVersion, d.FailureReason)
		}
	}
	if actions["IGNORE"] == 0 || actions["IGNORE"] == n {
		t.Errorf("final actions %v: want a mix", actions)
	}
	if !sawBan {
		t.Error("no decision on u1 saw the human ban")
	}
	ex, _ := bus.XLen(ctx, cfg.Keys.Executions).Result()
	if want := n - actions["IGNORE"]; ex == 0 || ex > int64(want) {
		t.Errorf("executions = %d, want 1..%d (dry-run results of the actions)", ex, want)
	}

	// decide replay reproduces every decision of the run.
	var out bytes.Buffer
	if err := runReplay(ctx, nil, &out); err != nil {
		t.Errorf("runReplay = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), fmt.Sprintf("checked %d matched %d mismatched 0", n, n)) {
		t.Errorf("replay summary: %s", out.String())
	}
	out.Reset()
	if err := runReplay(ctx, []string{"--count", "10"}, &out); err != nil || !strings.Contains(out.String(), "checked 10 ") {
		t.Errorf("runReplay --count 10 = %v, %s", err, out.String())
	}
	// A tampered log is caught.
	if err := bus.XAdd(ctx, &redis.XAddArgs{Stream: cfg.Keys.Decisions, Values: tamper(t, xs[len(xs)-1].Values)}).Err(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := runReplay(ctx, nil, &out); !errors.Is(err, errMismatch) {
		t.Errorf("runReplay on a tampered log = %v, want errMismatch\n%s", err, out.String())
	}
}

// tamper returns the stream values of the decision in vals with another
// risk score.
func tamper(t *testing.T, vals map[string]any) []any {
	t.Helper()
	d, err := event.DecodeDecision(vals)
	if err != nil {
		t.Fatal(err)
	}
	d.RiskScore = 0.5
	return d.Values(nil)
}

func TestRunClamp(t *testing.T) {
	clearEnv(t)
	in := strings.NewReader(`{"id":"a","channel":"c","requested":"TIMEOUT_600","score":0.5,"now_ms":1000}` + "\n" +
		`{"id":"b","channel":"c","requested":"WARN","score":0.5,"now_ms":1000,"broadcaster":true}` + "\n")
	var out bytes.Buffer
	if err := runClamp(in, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `"id":"a"`) || !strings.Contains(lines[1], `"final":"IGNORE"`) {
		t.Errorf("decide clamp output:\n%s", out.String())
	}
}

func TestRun_BadPolicyFile(t *testing.T) {
	cfg := testEnv(t, redistest.Start(t), "")
	cfg.PolicyFile = "does/not/exist.json"
	if err := run(context.Background(), cfg, logging.Discard()); err == nil {
		t.Error("run with a missing policy file = nil, want an error")
	}
}

func TestRun_RefusesNonStreamDecisionsKey(t *testing.T) {
	addr := redistest.Start(t)
	cfg := testEnv(t, addr, addr)
	bus := redis.NewClient(&redis.Options{Addr: addr})
	defer bus.Close()
	if err := bus.Set(context.Background(), cfg.Keys.Decisions, "x", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), cfg, logging.Discard())
	if err == nil || !strings.Contains(err.Error(), "want a stream") {
		t.Errorf("run = %v, want a refusal naming the decisions key", err)
	}
}

// checkMetricsDoc checks that docs/metrics.md documents every decide metric
// that /metrics exposes (the executor documents its own).
func checkMetricsDoc(t *testing.T, exposition string) {
	t.Helper()
	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatalf("read docs/metrics.md: %v", err)
	}
	i := strings.Index(string(doc), "## decide")
	if i < 0 {
		t.Fatal("docs/metrics.md has no decide section")
	}
	section := string(doc[i:])
	seen := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		name, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok || !strings.HasPrefix(name, "streamsafe_decide_") || strings.HasPrefix(name, "streamsafe_decide_executor_") {
			continue
		}
		name = strings.Fields(name)[0]
		seen[name] = true
		if !strings.Contains(section, "`"+name+"`") {
			t.Errorf("docs/metrics.md does not document %s", name)
		}
	}
	if len(seen) < 20 {
		t.Errorf("only %d decide metrics exposed: %v", len(seen), seen)
	}
}
