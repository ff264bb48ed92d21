package executor

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/config"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/logging/logtest"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/twitchsim"
)

const (
	testToken    = "tok-Sup3rS3cret-0123456789"
	testClientID = "cid-Pr1vate-abcdef"
	testBot      = "900"
	testRoom     = "100"
	testStream   = "test:executions"
)

// testEnv is a real Redis plus the simulator's Helix on loopback.
type testEnv struct {
	addr   string
	rdb    *redis.Client
	sim    *twitchsim.Helix
	simURL string
	reg    *prometheus.Registry
	logs   *logtest.Buffer
	log    *slog.Logger
}

func newTestEnv(t *testing.T, mutateSim func(*twitchsim.HelixConfig)) *testEnv {
	t.Helper()
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	scfg := twitchsim.DefaultHelixConfig()
	scfg.ClientID = testClientID
	scfg.Tokens = map[string]string{testToken: testBot}
	scfg.FaultResetAfter = time.Millisecond
	if mutateSim != nil {
		mutateSim(&scfg)
	}
	sim, err := twitchsim.NewHelix(scfg, nil, nil)
	if err != nil {
		t.Fatalf("twitchsim.NewHelix() = %v", err)
	}
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	logs := &logtest.Buffer{}
	return &testEnv{
		addr: addr, rdb: rdb, sim: sim, simURL: srv.URL + "/helix",
		reg: prometheus.NewRegistry(), logs: logs, log: logging.New(logs, slog.LevelDebug),
	}
}

// config returns a validated Helix-mode config aimed at the simulator, with
// short backoffs.
func (e *testEnv) config(t *testing.T) Config {
	t.Helper()
	cfg := DefaultConfig()
	cfg.ResultsStream = testStream
	cfg.RequestTimeout = 10 * time.Second
	cfg.BaseURL = e.simURL
	cfg.Token = config.NewSecret(testToken)
	cfg.ClientID = config.NewSecret(testClientID)
	cfg.ModeratorID = testBot
	cfg.BackoffBase, cfg.BackoffMax = 5*time.Millisecond, 20*time.Millisecond
	cfg.RateLimitJitter = 10 * time.Millisecond
	cfg.AttemptTimeout = 2 * time.Second
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	return cfg
}

// newPool starts a pool with its own registry and closes it at cleanup.
func (e *testEnv) newPool(t *testing.T, cfg Config) *Pool {
	t.Helper()
	p, err := New(cfg, e.rdb, e.reg, e.log)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	return p
}

// results waits until the executions stream holds n entries and returns
// them.
func (e *testEnv) results(t *testing.T, n int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		msgs, err := e.rdb.XRange(context.Background(), testStream, "-", "+").Result()
		if err != nil {
			t.Fatalf("XRANGE: %v", err)
		}
		if len(msgs) >= n || time.Now().After(deadline) {
			if len(msgs) != n {
				t.Fatalf("executions stream has %d entries, want %d", len(msgs), n)
			}
			out := make([]map[string]string, len(msgs))
			for i, m := range msgs {
				out[i] = map[string]string{}
				for k, v := range m.Values {
					out[i][k] = v.(string)
				}
			}
			return out
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var reqSeq int

// request returns a request for a fresh message of user in testRoom.
func request(kind event.ActionKind, user string, durationS int32) Request {
	reqSeq++
	return Request{
		DecisionID: "d-" + strconv.Itoa(reqSeq), MsgID: "msg-" + strconv.Itoa(reqSeq), BroadcasterID: testRoom,
		Channel: "simchan0", UserID: user, Login: "login" + user,
		Action: event.Action{Kind: kind, DurationS: durationS}, Reason: "test", DecidedAt: time.Now(),
	}
}

// metric returns the value of a counter, gauge or histogram count in reg
// with the given labels.
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, lp := range m.GetLabel() {
					if lp.GetName() == labels[i] && lp.GetValue() == labels[i+1] {
						found = true
					}
				}
				if !found {
					continue next
				}
			}
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return 0
}

// count returns how many accepted simulator actions match kind and key (msg
// id for deletes, user id otherwise).
func count(sim *twitchsim.Helix, kind event.ModKind, key string) int {
	n := 0
	for _, a := range sim.Actions() {
		if a.Kind == kind && (a.MsgID == key || a.UserID == key) {
			n++
		}
	}
	return n
}

// blockingBackend blocks every Execute until release is closed or ctx ends.
type blockingBackend struct {
	release chan struct{}
	started chan struct{}
}

func (b *blockingBackend) Execute(ctx context.Context, _ *Request) Outcome {
	select {
	case b.started <- struct{}{}:
	default:
	}
	select {
	case <-b.release:
		return Outcome{Status: StatusSuccess, HTTPStatus: 200, Attempts: 1}
	case <-ctx.Done():
		return Outcome{Status: StatusFailed, Err: ctx.Err()}
	}
}

func isErr(err, target error) bool { return errors.Is(err, target) }

func configSecretForTest(s string) config.Secret { return config.NewSecret(s) }
