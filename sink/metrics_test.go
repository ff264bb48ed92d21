package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// listenAddr returns the address the sink logged for /metrics.
func listenAddr(t *testing.T, s *runningSink) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			if msg, _ := rec["msg"].(string); strings.HasPrefix(msg, "serving /metrics") {
				if a, ok := rec[logging.KeyAddr].(string); ok {
					return a
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the sink never logged its HTTP address:\n%s", s.logs.String())
	return ""
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestSink_MetricsDocumented scrapes a running sink and checks that
// docs/metrics.md's sink section documents every streamsafe_sink_* metric
// it exposes, and documents none that it does not.
func TestSink_MetricsDocumented(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	cfg := testConfig(t, addr, t.TempDir())
	cfg.HTTPAddr = "127.0.0.1:0"
	// One entry per stream, so that every series (batch_size too) exists.
	d, m, x := testDecision(0), testMod(0), testExecution(0)
	xadd(t, rdb, cfg.Keys.Decisions, d.Values(nil))
	xadd(t, rdb, cfg.Keys.Mod, m.Values(nil))
	xadd(t, rdb, cfg.Keys.Executions, x.Values(nil))
	s := startLoggedSink(t, cfg)
	base := "http://" + listenAddr(t, s)
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("/ready", func() bool { code, _ := get(t, base+"/ready"); return code == http.StatusOK })
	waitDrained(t, rdb, cfg.Keys.Decisions, cfg.Keys.Mod, cfg.Keys.Executions)
	if code, _ := get(t, base+"/health"); code != http.StatusOK {
		t.Errorf("/health = %d, want 200", code)
	}
	code, exposition := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}

	doc, err := os.ReadFile("../docs/metrics.md")
	if err != nil {
		t.Fatalf("read docs/metrics.md: %v", err)
	}
	i := strings.Index(string(doc), "\n## sink\n")
	if i < 0 {
		t.Fatal("docs/metrics.md has no sink section")
	}
	section := string(doc[i+1:])
	if j := strings.Index(section[1:], "\n## "); j >= 0 {
		section = section[:j+1]
	}
	exposed := map[string]bool{}
	for _, line := range strings.Split(exposition, "\n") {
		rest, ok := strings.CutPrefix(line, "# TYPE ")
		if !ok || !strings.HasPrefix(rest, "streamsafe_sink_") {
			continue
		}
		f := strings.Fields(rest)
		name, typ := f[0], f[1]
		exposed[name] = true
		row := regexp.MustCompile("(?m)^\\| `" + regexp.QuoteMeta(name) + "` \\| ([a-z]+) \\|.*$").FindStringSubmatch(section)
		switch {
		case row == nil:
			t.Errorf("docs/metrics.md (sink section) has no table row for %s", name)
		case row[1] != typ:
			t.Errorf("docs/metrics.md documents %s as a %s, /metrics says %s", name, row[1], typ)
		}
	}
	if len(exposed) < 22 {
		t.Errorf("only %d sink metrics exposed: %v", len(exposed), exposed)
	}
	for _, m := range regexp.MustCompile("`(streamsafe_sink_[a-z_]+)`").FindAllStringSubmatch(section, -1) {
		if !exposed[m[1]] {
			t.Errorf("docs/metrics.md documents %s, which /metrics does not expose", m[1])
		}
	}
}
