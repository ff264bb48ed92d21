package ops

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// serve runs h on a free loopback port and returns its base URL and a
// stop function that checks Serve returned nil.
func serve(t *testing.T, h http.Handler) (base string, stop func()) {
	t.Helper()
	s, err := Listen("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, time.Second) }()
	return "http://" + s.Addr(), func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve = %v, want nil after cancel", err)
		}
	}
}

func TestServer_Endpoints(t *testing.T) {
	reg := NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "streamsafe_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	ready := NewReadiness("redis", "twitch")
	base, stop := serve(t, Handler(reg, ready))

	if code, body := get(t, base+"/health"); code != 200 || !strings.Contains(body, "ok") {
		t.Errorf("/health = %d %q, want 200 ok", code, body)
	}
	if code, _ := get(t, base+"/ready"); code != http.StatusServiceUnavailable {
		t.Errorf("/ready before conditions = %d, want 503", code)
	}
	ready.Set("redis", true)
	ready.Set("twitch", true)
	if code, body := get(t, base+"/ready"); code != 200 || !strings.Contains(body, `"ready":true`) {
		t.Errorf("/ready = %d %q, want 200 ready", code, body)
	}
	if _, body := get(t, base+"/metrics"); !strings.Contains(body, "streamsafe_test_total 3") {
		t.Errorf("/metrics lacks the counter: %q", body)
	}
	stop()
}

func TestWithPprof(t *testing.T) {
	reg := NewRegistry()
	ready := NewReadiness("redis")
	for _, tt := range []struct {
		pprof bool
		want  int
	}{{false, http.StatusNotFound}, {true, http.StatusOK}} {
		h := Handler(reg, ready)
		if tt.pprof {
			h = WithPprof(h)
		}
		base, stop := serve(t, h)
		if code, body := get(t, base+"/debug/pprof/goroutine?debug=1"); code != tt.want {
			t.Errorf("pprof=%v: GET /debug/pprof/goroutine = %d, want %d (%.80s)", tt.pprof, code, tt.want, body)
		}
		if code, _ := get(t, base+"/health"); code != http.StatusOK {
			t.Errorf("pprof=%v: GET /health = %d, want 200", tt.pprof, code)
		}
		stop()
	}
}
