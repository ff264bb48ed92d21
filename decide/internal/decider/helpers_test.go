package decider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/executor"
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// fakePolicy scores blocked terms, shouting and copypasta, and maps the
// score to actions with fixed thresholds.
type fakePolicy struct{}

var (
	iTerms   = features.Index("blocked_terms")
	iCaps    = features.Index("caps_x_len")
	iDup     = features.Index("dup_60s_log1p")
	testKeys = stream.DefaultKeys()
)

func (fakePolicy) Score(v *features.Vector, _ []byte) float64 {
	s := float64(v[iCaps]) * 0.5
	if v[iTerms] > 0 {
		s = max(s, 0.95)
	}
	if v[iDup] > 1.5 {
		s = max(s, 0.65)
	}
	return s
}

func (fakePolicy) Decide(score float64, _ []byte) event.Action {
	switch {
	case score >= 0.9:
		return event.Action{Kind: event.Timeout, DurationS: 600}
	case score >= 0.6:
		return event.Action{Kind: event.Delete}
	case score >= 0.4:
		return event.Action{Kind: event.Warn}
	}
	return event.Action{}
}

func (fakePolicy) Version() string { return "fake-v1" }

// fakeExecutor records submitted requests.
type fakeExecutor struct {
	mu   sync.Mutex
	reqs []executor.Request
	drop bool
}

func (f *fakeExecutor) Submit(_ context.Context, r executor.Request) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.drop {
		return false
	}
	f.reqs = append(f.reqs, r)
	return true
}

func (f *fakeExecutor) requests() []executor.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]executor.Request(nil), f.reqs...)
}

func testCore(t testing.TB, eps float64) *Core {
	t.Helper()
	cfg := clamp.DefaultConfig()
	cl, err := clamp.New(cfg.Global, cfg.Channels)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := clamp.NewExplorer(eps)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ClampVersion(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &Core{Policy: fakePolicy{}, Clamp: cl, Explorer: ex, ClampVersion: v}
}

func testTerms(t testing.TB) *features.BlockedTerms {
	t.Helper()
	bt, err := features.NewBlockedTerms([]string{"badword"})
	if err != nil {
		t.Fatal(err)
	}
	return bt
}

func newRedis(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// env is a running decide pipeline: chat consumer + decider on a bus, with
// the feature store on its own Redis.
type env struct {
	bus     *redis.Client
	fsSrv   *redistest.Server
	fs      *redis.Client
	store   *featurestore.Store
	exec    *fakeExecutor
	dec     *Decider
	metrics *Metrics
	cons    *stream.Consumer
	core    *Core
}

type envOpts struct {
	eps       float64
	prefix    string
	workers   int
	batch     int64
	minIdle   time.Duration
	storeWait time.Duration
}

func newEnv(t *testing.T, o envOpts) *env {
	t.Helper()
	e := &env{bus: newRedis(t, redistest.Start(t)), exec: &fakeExecutor{}, metrics: NewMetrics(nil)}
	e.fsSrv = redistest.StartServer(t)
	e.fs = newRedis(t, e.fsSrv.Addr)
	fcfg := featurestore.DefaultConfig()
	fcfg.Timeout = 500 * time.Millisecond
	if o.storeWait > 0 {
		fcfg.Timeout = o.storeWait
	}
	var err error
	if e.store, err = featurestore.New(e.fs, fcfg); err != nil {
		t.Fatal(err)
	}
	if err := e.store.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.core = testCore(t, o.eps)
	e.dec, err = New(Config{DecisionsStream: testKeys.Decisions, Budget: time.Second},
		Deps{Core: e.core, Store: e.store, Bus: e.bus.Options(), Executor: e.exec, Terms: testTerms(t), Log: logging.Discard(), Metrics: e.metrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.dec.Close)
	e.cons = e.consumer(t, o)
	return e
}

func (e *env) consumer(t *testing.T, o envOpts) *stream.Consumer {
	t.Helper()
	if o.prefix == "" {
		o.prefix = "test"
	}
	if o.workers == 0 {
		o.workers = 2
	}
	if o.batch == 0 {
		o.batch = 50
	}
	if o.minIdle == 0 {
		o.minIdle = 30 * time.Second
	}
	c, err := stream.NewConsumer(e.bus, stream.ConsumerConfig{
		Stream: testKeys.Chat, Group: "decide", DeadLetter: testKeys.DeadLetter, ConsumerPrefix: o.prefix,
		Workers: o.workers, BatchCount: o.batch, Block: 20 * time.Millisecond, MinIdle: o.minIdle,
		ClaimInterval: 50 * time.Millisecond, InfoInterval: -1, BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		FastReads: flatChat, FlatFields: flatChat,
	}, e.dec, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureGroup(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c
}

func run(t *testing.T, c *stream.Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

var chatSeq atomic.Int64

// chat returns a chat event from user in channel "chan" at ts with text.
func chat(user string, ts int64, text string) event.Chat {
	n := chatSeq.Add(1)
	return event.Chat{MsgID: fmt.Sprintf("00000000-0000-4000-8000-%012d", n), RoomID: "100", Channel: "chan", UserID: user,
		Login: "l" + user, DisplayName: user, Text: text, TmiSentTsMs: ts, ReceivedAtUs: ts*1000 + 500}
}

func (e *env) add(t *testing.T, cs ...event.Chat) []string {
	t.Helper()
	var ids []string
	for i := range cs {
		id, err := e.bus.XAdd(context.Background(), &redis.XAddArgs{Stream: testKeys.Chat, Values: cs[i].Values(nil)}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

func (e *env) addRaw(t *testing.T, vals ...any) string {
	t.Helper()
	id, err := e.bus.XAdd(context.Background(), &redis.XAddArgs{Stream: testKeys.Chat, Values: vals}).Result()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (e *env) decisions(t *testing.T) []event.Decision {
	t.Helper()
	xs, err := e.bus.XRange(context.Background(), testKeys.Decisions, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]event.Decision, 0, len(xs))
	for _, x := range xs {
		d, err := event.DecodeDecision(x.Values)
		if err != nil {
			t.Fatalf("decode decision %s: %v", x.ID, err)
		}
		out = append(out, d)
	}
	return out
}

func (e *env) waitDecisions(t *testing.T, n int) []event.Decision {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		l, _ := e.bus.XLen(context.Background(), testKeys.Decisions).Result()
		if int(l) >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %d decisions (have %d)", n, l)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return e.decisions(t)
}

func (e *env) pending(t *testing.T) int64 {
	t.Helper()
	p, err := e.bus.XPending(context.Background(), testKeys.Chat, "decide").Result()
	if err != nil {
		t.Fatal(err)
	}
	return p.Count
}

// exactlyOnce checks that every chat entry id in ids has exactly one
// decision and that decisions name no other entry.
func exactlyOnce(t *testing.T, ids []string, ds []event.Decision) {
	t.Helper()
	count := map[string]int{}
	msg := map[string]string{}
	for _, d := range ds {
		count[d.SrcID]++
		if prev, ok := msg[d.MsgID]; ok && prev != d.SrcID {
			t.Errorf("msg id %s decided for entries %s and %s", d.MsgID, prev, d.SrcID)
		}
		msg[d.MsgID] = d.SrcID
		if want := event.DecisionID(d.SrcID, d.MsgID); d.DecisionID != want {
			t.Errorf("decision id %s, want %s", d.DecisionID, want)
		}
	}
	for _, id := range ids {
		if count[id] != 1 {
			t.Errorf("entry %s has %d decisions, want 1", id, count[id])
		}
	}
	if len(ds) != len(ids) {
		t.Errorf("%d decisions for %d entries", len(ds), len(ids))
	}
}

// flakyDial dials the bus for Deps.Bus (a redis.Options Dialer) and breaks
// the first n transactions on the connections it makes: the connection is
// closed before the EXEC reaches Redis (nothing ran), or, with loseReply,
// once Redis has begun EXEC's reply (the transaction ran, its reply never
// arrives), as a network failure would.
type flakyDial struct {
	n         atomic.Int32
	loseReply bool
}

func (f *flakyDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &flakyConn{Conn: c, f: f}, nil
}

// flakyConn is a connection of flakyDial.
type flakyConn struct {
	net.Conn
	f     *flakyDial
	armed bool   // an EXEC to lose the reply of was written
	got   []byte // with armed: reply bytes read and not yet parsed
}

func (c *flakyConn) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("\r\nEXEC\r\n")) && c.f.n.Add(-1) >= 0 {
		if !c.f.loseReply {
			c.Conn.Close()
			return 0, errInjected
		}
		c.armed = true
	}
	return c.Conn.Write(p)
}

// Read, once armed, reads and drops MULTI's +OK and the +QUEUED lines
// until the first line of EXEC's reply, which Redis writes after running
// the transaction; then it closes the connection.
func (c *flakyConn) Read(p []byte) (int, error) {
	if !c.armed {
		return c.Conn.Read(p)
	}
	buf := make([]byte, 64<<10)
	for {
		for {
			line, rest, ok := bytes.Cut(c.got, []byte("\r\n"))
			if !ok {
				break
			}
			if s := string(line); s != "+OK" && s != "+QUEUED" {
				c.Conn.Close()
				return 0, errInjected
			}
			c.got = rest
		}
		n, err := c.Conn.Read(buf)
		c.got = append(c.got, buf[:n]...)
		if err != nil {
			return 0, err
		}
	}
}

var errInjected = errors.New("injected bus failure")

// flatChat makes the chat consumers of the tests read with FastReads and
// FlatFields, as decide's main does (TestDecider_FlatFields).
var flatChat bool
