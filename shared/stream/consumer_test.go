package stream

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

const (
	testStream = "test:in"
	testGroup  = "g"
	testDL     = "test:dl"
)

func newClient(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// fastAndPrefetch makes testConfig turn on FastReads and Prefetch, and
// flatFields FlatFields (TestConsumer_FastReadsAndPrefetch runs the consumer
// tests that way).
var fastAndPrefetch, flatFields bool

// fieldOf returns field name of entry i of b, from Values or Fields.
func fieldOf(b *Batch, i int, name string) string {
	if b.Fields != nil {
		f := b.Fields[i]
		for k := 0; k+1 < len(f); k += 2 {
			if f[k] == name {
				return f[k+1]
			}
		}
		return ""
	}
	v, _ := b.Msgs[i].Values[name].(string)
	return v
}

func testConfig() ConsumerConfig {
	return ConsumerConfig{
		Stream: testStream, Group: testGroup, DeadLetter: testDL, ConsumerPrefix: "p",
		Workers: 1, BatchCount: 10, Block: 20 * time.Millisecond,
		MinIdle: 200 * time.Millisecond, ClaimInterval: 50 * time.Millisecond,
		MaxDeliveries: 3, CallTimeout: time.Second, InfoInterval: -1,
		BackoffMin: 5 * time.Millisecond, BackoffMax: 50 * time.Millisecond,
		FastReads: fastAndPrefetch, Prefetch: fastAndPrefetch, FlatFields: flatFields,
	}
}

// TestConsumer_FastReadsAndPrefetch runs the behaviour tests of the
// consumer again with its own RESP reader and prefetching on.
func TestConsumer_FastReadsAndPrefetch(t *testing.T) {
	fastAndPrefetch = true
	defer func() { fastAndPrefetch = false }()
	tests := []struct {
		name string
		f    func(*testing.T)
	}{
		{"RestartRereadsOwnPending", TestConsumer_RestartRereadsOwnPending},
		{"ClaimsDeadConsumersEntries", TestConsumer_ClaimsDeadConsumersEntries},
		{"DeadLettersAfterMaxDeliveries", TestConsumer_DeadLettersAfterMaxDeliveries},
		{"RejectDeadLetters", TestConsumer_RejectDeadLetters},
		{"TrimmedWhilePending", TestConsumer_TrimmedWhilePending},
		{"HandlerSettlesInOwnTransaction", TestConsumer_HandlerSettlesInOwnTransaction},
		{"KeepAndAckLater", TestConsumer_KeepAndAckLater},
		{"FailedBatchIsRetried", TestConsumer_FailedBatchIsRetried},
		{"ResumesAfterRedisRestart", TestConsumer_ResumesAfterRedisRestart},
		{"ShutdownFinishesInFlightBatch", TestConsumer_ShutdownFinishesInFlightBatch},
		{"MultipleWorkersEachEntryOnce", TestConsumer_MultipleWorkersEachEntryOnce},
		{"RetryInPlaceKeepsDeliveryCount", TestConsumer_RetryInPlaceKeepsDeliveryCount},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.f)
	}
	flatFields = true
	defer func() { flatFields = false }()
	for _, tt := range tests {
		t.Run("flat/"+tt.name, tt.f)
	}
}

// recorder is a Handler that records every entry it acks, with its source
// and delivery count.
type recorder struct {
	mu   sync.Mutex
	seen []seenEntry
	fail func(b *Batch) error // optional: return an error to fail the batch
}

type seenEntry struct {
	id         string
	n          string // value of field "n"
	src        Source
	deliveries int64
}

func (r *recorder) HandleBatch(_ context.Context, b *Batch) error {
	if r.fail != nil {
		if err := r.fail(b); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, m := range b.Msgs {
		n := fieldOf(b, i, "n")
		r.seen = append(r.seen, seenEntry{id: m.ID, n: n, src: b.Source, deliveries: b.Deliveries[i]})
	}
	return nil
}

func (r *recorder) snapshot() []seenEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]seenEntry(nil), r.seen...)
}

func addEntries(t *testing.T, rdb *redis.Client, from, to int) []string {
	t.Helper()
	var ids []string
	for i := from; i < to; i++ {
		id, err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: testStream, Values: []any{"n", strconv.Itoa(i)}}).Result()
		if err != nil {
			t.Fatalf("XADD: %v", err)
		}
		ids = append(ids, id)
	}
	return ids
}

// runConsumer runs c until the returned stop function is called.
func runConsumer(t *testing.T, c *Consumer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("Run did not return within 5s of cancel")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func pendingCount(t *testing.T, rdb *redis.Client) int64 {
	t.Helper()
	p, err := rdb.XPending(context.Background(), testStream, testGroup).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	return p.Count
}

func mustConsumer(t *testing.T, rdb *redis.Client, cfg ConsumerConfig, h Handler, m *ConsumerMetrics) *Consumer {
	t.Helper()
	c, err := NewConsumer(rdb, cfg, h, logging.Discard(), m)
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	if err := c.EnsureGroup(context.Background()); err != nil {
		t.Fatalf("EnsureGroup: %v", err)
	}
	return c
}

// readAs delivers up to n new entries to consumer name without acking them,
// as a consumer that crashes right after its read would.
func readAs(t *testing.T, rdb *redis.Client, name string, n int64) {
	t.Helper()
	_, err := rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{
		Group: testGroup, Consumer: name, Streams: []string{testStream, ">"}, Count: n, Block: -1,
	}).Result()
	if err != nil {
		t.Fatalf("XREADGROUP as %s: %v", name, err)
	}
}

func TestConsumer_RestartRereadsOwnPending(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	rec := &recorder{}
	c := mustConsumer(t, rdb, testConfig(), rec, nil)
	addEntries(t, rdb, 0, 5)
	readAs(t, rdb, c.ConsumerName(0), 5) // "crashed" after reading 5
	addEntries(t, rdb, 5, 8)

	runConsumer(t, c)
	waitFor(t, "8 entries", func() bool { return len(rec.snapshot()) == 8 })
	got := rec.snapshot()
	for i, e := range got {
		wantSrc, wantDel := SourceNew, int64(1)
		if i < 5 {
			wantSrc, wantDel = SourcePending, 2
		}
		if e.n != strconv.Itoa(i) || e.src != wantSrc || e.deliveries != wantDel {
			t.Errorf("entry %d = {n:%s src:%s deliveries:%d}, want {n:%d src:%s deliveries:%d}", i, e.n, e.src, e.deliveries, i, wantSrc, wantDel)
		}
	}
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
}

func TestConsumer_ClaimsDeadConsumersEntries(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	rec := &recorder{}
	m := NewConsumerMetrics(nil, "test")
	c := mustConsumer(t, rdb, testConfig(), rec, m)
	addEntries(t, rdb, 0, 4)
	readAs(t, rdb, "dead-replica-0", 4)

	runConsumer(t, c)
	waitFor(t, "4 claimed entries", func() bool { return len(rec.snapshot()) == 4 })
	for _, e := range rec.snapshot() {
		if e.src != SourceClaimed || e.deliveries != 2 {
			t.Errorf("entry %s: src %s deliveries %d, want claimed, 2", e.n, e.src, e.deliveries)
		}
	}
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
	if got := metricValue(m.claimed.WithLabelValues(testStream)); got != 4 {
		t.Errorf("claimed_total = %v, want 4", got)
	}
}

func TestConsumer_DeadLettersAfterMaxDeliveries(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	ids := addEntries(t, rdb, 0, 3)
	poison := ids[1]
	var attempts int
	var mu sync.Mutex
	rec := &recorder{fail: func(b *Batch) error {
		for _, m := range b.Msgs {
			if m.ID == poison {
				mu.Lock()
				attempts++
				mu.Unlock()
				return errors.New("poison")
			}
		}
		return nil
	}}
	cfg := testConfig()
	cfg.BatchCount = 1
	m := NewConsumerMetrics(nil, "test")
	c := mustConsumer(t, rdb, cfg, rec, m)
	runConsumer(t, c)

	waitFor(t, "dead letter", func() bool { n, _ := rdb.XLen(context.Background(), testDL).Result(); return n == 1 })
	waitFor(t, "2 good entries", func() bool { return len(rec.snapshot()) == 2 })
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
	mu.Lock()
	if attempts != int(cfg.MaxDeliveries) {
		t.Errorf("handler saw the poison entry %d times, want %d", attempts, cfg.MaxDeliveries)
	}
	mu.Unlock()
	xs, err := rdb.XRange(context.Background(), testDL, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	dl, err := DecodeDeadLetter(xs[0].Values)
	if err != nil {
		t.Fatalf("DecodeDeadLetter: %v", err)
	}
	if dl.SrcID != poison || dl.Reason != ReasonMaxDeliveries || dl.Deliveries != cfg.MaxDeliveries+1 ||
		dl.SrcStream != testStream || dl.Group != testGroup || dl.Payload["n"] != "1" {
		t.Errorf("dead letter = %+v, want src_id %s reason %s deliveries %d payload n=1", dl, poison, ReasonMaxDeliveries, cfg.MaxDeliveries+1)
	}
	if got := metricValue(m.deadLetters.WithLabelValues(testStream, ReasonMaxDeliveries)); got != 1 {
		t.Errorf("dead_letters_total{max_deliveries} = %v, want 1", got)
	}
}

func TestConsumer_RejectDeadLetters(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 4)
	var handled sync.WaitGroup
	handled.Add(1)
	var once sync.Once
	h := HandlerFunc(func(_ context.Context, b *Batch) error {
		for i := range b.Msgs {
			if fieldOf(b, i, "n") == "2" {
				b.Reject(i, "bad_input: field n is two")
			}
		}
		once.Do(handled.Done)
		return nil
	})
	m := NewConsumerMetrics(nil, "test")
	c := mustConsumer(t, rdb, testConfig(), h, m)
	runConsumer(t, c)
	handled.Wait()
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
	xs, _ := rdb.XRange(context.Background(), testDL, "-", "+").Result()
	if len(xs) != 1 {
		t.Fatalf("dead-letter stream has %d entries, want 1", len(xs))
	}
	dl, err := DecodeDeadLetter(xs[0].Values)
	if err != nil || dl.Reason != "bad_input: field n is two" || dl.Payload["n"] != "2" || dl.Deliveries != 1 {
		t.Errorf("dead letter = %+v, %v; want reason bad_input..., payload n=2, deliveries 1", dl, err)
	}
	if got := metricValue(m.deadLetters.WithLabelValues(testStream, "bad_input")); got != 1 {
		t.Errorf("dead_letters_total{bad_input} = %v, want 1", got)
	}
}

func TestConsumer_TrimmedWhilePending(t *testing.T) {
	for _, tc := range []struct {
		name  string
		owner string // who holds the trimmed entries
	}{
		{"own_pending", "p-0"},
		{"dead_consumer", "dead-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rdb := newClient(t, redistest.Start(t))
			rec := &recorder{}
			m := NewConsumerMetrics(nil, "test")
			c := mustConsumer(t, rdb, testConfig(), rec, m)
			addEntries(t, rdb, 0, 3)
			readAs(t, rdb, tc.owner, 3)
			if err := rdb.XTrimMaxLen(context.Background(), testStream, 0).Err(); err != nil {
				t.Fatal(err)
			}
			addEntries(t, rdb, 3, 5)
			runConsumer(t, c)
			waitFor(t, "2 live entries", func() bool { return len(rec.snapshot()) == 2 })
			waitFor(t, "3 trimmed counted", func() bool { return metricValue(m.trimmed.WithLabelValues(testStream)) == 3 })
			waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
			for _, e := range rec.snapshot() {
				if e.n != "3" && e.n != "4" {
					t.Errorf("handler got entry n=%s, want only 3 and 4", e.n)
				}
			}
		})
	}
}

func TestConsumer_HandlerSettlesInOwnTransaction(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 5)
	h := HandlerFunc(func(ctx context.Context, b *Batch) error {
		tx := rdb.TxPipeline()
		for _, m := range b.Msgs {
			tx.XAdd(ctx, &redis.XAddArgs{Stream: "test:out", Values: []any{"src", m.ID}})
		}
		b.Settle(tx)
		_, err := tx.Exec(ctx)
		return err
	})
	c := mustConsumer(t, rdb, testConfig(), h, nil)
	runConsumer(t, c)
	waitFor(t, "5 outputs", func() bool { n, _ := rdb.XLen(context.Background(), "test:out").Result(); return n == 5 })
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
}

func TestConsumer_KeepAndAckLater(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 3)
	got := make(chan []string, 10)
	h := HandlerFunc(func(_ context.Context, b *Batch) error {
		b.Keep()
		var ids []string
		for _, m := range b.Msgs {
			ids = append(ids, m.ID)
		}
		got <- ids
		return nil
	})
	c := mustConsumer(t, rdb, testConfig(), h, nil)
	runConsumer(t, c)
	ids := <-got
	if n := pendingCount(t, rdb); n != 3 {
		t.Fatalf("pending after Keep = %d, want 3", n)
	}
	if err := c.Ack(context.Background(), ids...); err != nil {
		t.Fatal(err)
	}
	if n := pendingCount(t, rdb); n != 0 {
		t.Errorf("pending after Ack = %d, want 0", n)
	}
}

func TestConsumer_FailedBatchIsRetried(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 6)
	var calls int
	var mu sync.Mutex
	rec := &recorder{fail: func(*Batch) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return errors.New("downstream unavailable")
		}
		return nil
	}}
	c := mustConsumer(t, rdb, testConfig(), rec, nil)
	runConsumer(t, c)
	waitFor(t, "6 entries", func() bool { return len(rec.snapshot()) == 6 })
	for i, e := range rec.snapshot() {
		if e.n != strconv.Itoa(i) || e.src != SourcePending || e.deliveries != 2 {
			t.Errorf("entry %d = %+v, want n=%d re-read as pending with 2 deliveries", i, e, i)
		}
	}
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
}

func TestConsumer_ResumesAfterRedisRestart(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := newClient(t, srv.Addr)
	rec := &recorder{}
	c := mustConsumer(t, rdb, testConfig(), rec, nil)
	runConsumer(t, c)
	addEntries(t, rdb, 0, 2)
	waitFor(t, "2 entries", func() bool { return len(rec.snapshot()) == 2 })
	srv.Stop()
	time.Sleep(100 * time.Millisecond) // let the workers see the outage
	srv.Restart(t)
	// The restarted Redis is empty: the consumer must re-create its group.
	waitFor(t, "group re-created", func() bool {
		gs, err := rdb.XInfoGroups(context.Background(), testStream).Result()
		return err == nil && len(gs) == 1
	})
	addEntries(t, rdb, 2, 4)
	waitFor(t, "4 entries", func() bool { return len(rec.snapshot()) == 4 })
}

func TestConsumer_ShutdownFinishesInFlightBatch(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 3)
	entered := make(chan struct{})
	release := make(chan struct{})
	h := HandlerFunc(func(ctx context.Context, b *Batch) error {
		close(entered)
		<-release
		return ctx.Err() // the handler's ctx must survive shutdown
	})
	c := mustConsumer(t, rdb, testConfig(), h, nil)
	stop := runConsumer(t, c)
	<-entered
	go func() { time.Sleep(50 * time.Millisecond); close(release) }()
	stop()
	if n := pendingCount(t, rdb); n != 0 {
		t.Errorf("pending after shutdown = %d, want 0 (in-flight batch finished and acked)", n)
	}
}

func TestConsumer_MultipleWorkersEachEntryOnce(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	rec := &recorder{}
	cfg := testConfig()
	cfg.Workers = 3
	cfg.BatchCount = 7
	c := mustConsumer(t, rdb, cfg, rec, nil)
	runConsumer(t, c)
	addEntries(t, rdb, 0, 200)
	waitFor(t, "200 entries", func() bool { return len(rec.snapshot()) >= 200 })
	seen := map[string]int{}
	for _, e := range rec.snapshot() {
		seen[e.n]++
	}
	for i := range 200 {
		if n := seen[strconv.Itoa(i)]; n != 1 {
			t.Errorf("entry %d handled %d times, want 1", i, n)
		}
	}
}

func TestConsumer_PollInfo(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	m := NewConsumerMetrics(nil, "test")
	c := mustConsumer(t, rdb, testConfig(), &recorder{}, m)
	addEntries(t, rdb, 0, 5)
	readAs(t, rdb, "x", 2)
	c.PollInfo(context.Background())
	if got := metricValue(m.lag.WithLabelValues(testStream, testGroup)); got != 3 {
		t.Errorf("lag = %v, want 3", got)
	}
	if got := metricValue(m.pending.WithLabelValues(testStream, testGroup)); got != 2 {
		t.Errorf("pending = %v, want 2", got)
	}
	if got := metricValue(m.length.WithLabelValues(testStream)); got != 5 {
		t.Errorf("length = %v, want 5", got)
	}
}

func TestConsumerConfig_Validate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ConsumerConfig)
		ok     bool
	}{
		{"defaults", func(*ConsumerConfig) {}, true},
		{"no_stream", func(c *ConsumerConfig) { c.Stream = "" }, false},
		{"dl_is_stream", func(c *ConsumerConfig) { c.DeadLetter = c.Stream }, false},
		{"no_prefix", func(c *ConsumerConfig) { c.ConsumerPrefix = "" }, false},
		{"min_idle_below_block", func(c *ConsumerConfig) { c.MinIdle = time.Second; c.Block = 2 * time.Second }, false},
		{"negative_workers", func(c *ConsumerConfig) { c.Workers = -1 }, false},
		{"negative_read_interval", func(c *ConsumerConfig) { c.ReadInterval = -time.Millisecond }, false},
		{"read_interval_over_1s", func(c *ConsumerConfig) { c.ReadInterval = 2 * time.Second }, false},
		{"read_interval", func(c *ConsumerConfig) { c.ReadInterval = 20 * time.Millisecond }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ConsumerConfig{Stream: "a", Group: "g", DeadLetter: "dl", ConsumerPrefix: "p"}
			tt.mutate(&c)
			err := c.withDefaults().Validate()
			if (err == nil) != tt.ok {
				t.Errorf("Validate() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPrevIDAndCompare(t *testing.T) {
	tests := []struct{ in, want string }{
		{"5-3", "5-2"},
		{"5-0", "4-18446744073709551615"},
		{"5", "4-18446744073709551615"},
		{"0-0", "0"},
		{"junk", "0"},
	}
	for _, tt := range tests {
		if got := prevID(tt.in); got != tt.want {
			t.Errorf("prevID(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.want != "0" && compareIDs(prevID(tt.in), tt.in) >= 0 {
			t.Errorf("compareIDs(prevID(%q), %q) >= 0, want < 0", tt.in, tt.in)
		}
	}
	for _, c := range []struct {
		a, b string
		want int
	}{{"1-2", "1-10", -1}, {"10-0", "9-99", 1}, {"3-3", "3-3", 0}} {
		if got := compareIDs(c.a, c.b); got != c.want {
			t.Errorf("compareIDs(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestDeadLetter_RoundTrip(t *testing.T) {
	in := DeadLetter{SrcStream: "s", SrcID: "1-1", Group: "g", Consumer: "c-0", Reason: "r: x", Deliveries: 4, DeadAtUs: 99,
		Payload: map[string]any{"a": "1", "b": "two"}}
	vals := in.Values(nil)
	m := map[string]any{}
	for i := 0; i < len(vals); i += 2 {
		m[vals[i].(string)] = vals[i+1]
	}
	got, err := DecodeDeadLetter(m)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(in) {
		t.Errorf("DecodeDeadLetter(Values(x)) = %+v, want %+v", got, in)
	}
}

// metricValue reads a counter or gauge (prometheus/testutil would need an
// extra module).
func metricValue(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	return -1
}

func TestConsumer_RetryInPlaceKeepsDeliveryCount(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	addEntries(t, rdb, 0, 3)
	var calls int
	var mu sync.Mutex
	rec := &recorder{fail: func(*Batch) error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls <= 5 { // more failures than MaxDeliveries
			return Retry(errors.New("feature store down"))
		}
		return nil
	}}
	c := mustConsumer(t, rdb, testConfig(), rec, nil)
	runConsumer(t, c)
	waitFor(t, "3 entries", func() bool { return len(rec.snapshot()) == 3 })
	for _, e := range rec.snapshot() {
		if e.src != SourceNew || e.deliveries != 1 {
			t.Errorf("entry %s: src %s deliveries %d, want new, 1 (retried in place)", e.n, e.src, e.deliveries)
		}
	}
	waitFor(t, "empty PEL", func() bool { return pendingCount(t, rdb) == 0 })
	if n, _ := rdb.XLen(context.Background(), testDL).Result(); n != 0 {
		t.Errorf("dead letters = %d, want 0", n)
	}
	if !IsRetry(Retry(errors.New("x"))) || IsRetry(errors.New("x")) || Retry(nil) != nil {
		t.Error("Retry/IsRetry disagree")
	}
}

func TestWorker_AdaptiveBatchCount(t *testing.T) {
	c := &Consumer{cfg: ConsumerConfig{BatchCount: 100, MinBatchCount: 20}}
	w := &worker{c: c}
	t0 := time.Unix(1_700_000_000, 0)
	ms := time.Millisecond
	g := growAfter
	steps := []struct {
		at   time.Duration // when the read returned, after t0
		got  int
		want int64
	}{
		{0, 20, 20},              // a full read: a burst so far, keep
		{2 * ms, 20, 20},         // still full
		{4 * ms, 20, 20},         //
		{6 * ms, 15, 20},         // not full: the burst is drained
		{10 * ms, 20, 20},        // full again: a new run starts
		{10*ms + g - ms, 20, 20}, // full for just under growAfter
		{10*ms + g, 20, 40},      // full for growAfter: a backlog, double
		{11*ms + g, 40, 40},      // the run restarts at the new COUNT
		{10*ms + 2*g, 40, 80},    // growAfter of full reads again
		{11*ms + 2*g, 80, 80},
		{10*ms + 3*g, 80, 100}, // capped at BatchCount
		{11*ms + 3*g, 100, 100},
		{12*ms + 3*g, 99, 50}, // not full: caught up, halve
		{13*ms + 3*g, 50, 50}, // full (one read: keep)
		{14*ms + 3*g, 30, 25}, // not full
		{15*ms + 3*g, 1, 20},  // floored at MinBatchCount
		{16*ms + 3*g, 0, 20},
	}
	for i, s := range steps {
		n := w.batchCount()
		w.adapt(n, s.got, t0.Add(s.at))
		if got := w.batchCount(); got != s.want {
			t.Fatalf("step %d: read %d of %d at %v, next COUNT %d, want %d", i, s.got, n, s.at, got, s.want)
		}
	}
	fixed := &worker{c: &Consumer{cfg: ConsumerConfig{BatchCount: 100}}}
	fixed.adapt(100, 100, t0)
	fixed.adapt(100, 100, t0.Add(time.Second))
	if got := fixed.batchCount(); got != 100 {
		t.Errorf("without MinBatchCount the COUNT is %d, want BatchCount", got)
	}
}

// batchTimes records each batch's size and when it was handled.
type batchTimes struct {
	mu    sync.Mutex
	sizes []int
	at    []time.Time
}

func (r *batchTimes) HandleBatch(_ context.Context, b *Batch) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sizes = append(r.sizes, len(b.Msgs))
	r.at = append(r.at, time.Now())
	return nil
}

func (r *batchTimes) get() ([]int, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sizes), slices.Clone(r.at)
}

// TestConsumer_ReadInterval: after a read that was not full, the worker's
// next read waits for ReadInterval, so entries added meanwhile arrive as one
// batch; full reads (a backlog) are followed by the next read at once, and
// the COUNT is always BatchCount (MinBatchCount ignored).
func TestConsumer_ReadInterval(t *testing.T) {
	const interval = 300 * time.Millisecond
	rdb := newClient(t, redistest.Start(t))
	rec := &batchTimes{}
	cfg := testConfig()
	cfg.Prefetch = false
	cfg.ReadInterval = interval
	cfg.MinBatchCount = 2
	c := mustConsumer(t, rdb, cfg, rec, nil)
	runConsumer(t, c)

	addEntries(t, rdb, 0, 1)
	waitFor(t, "the first batch", func() bool { s, _ := rec.get(); return len(s) == 1 })
	addEntries(t, rdb, 1, 4) // three XADDs: a blocked read would return after the first
	waitFor(t, "the second batch", func() bool { s, _ := rec.get(); return len(s) == 2 })
	sizes, at := rec.get()
	if sizes[1] != 3 {
		t.Errorf("second batch has %d entries, want the 3 added while the worker waited", sizes[1])
	}
	if d := at[1].Sub(at[0]); d < interval*8/10 {
		t.Errorf("second batch %v after the first, want about ReadInterval (%v) or more", d, interval)
	}

	addEntries(t, rdb, 4, 29) // 25: two full reads of BatchCount (10), then 5
	waitFor(t, "all 29 entries", func() bool {
		s, _ := rec.get()
		n := 0
		for _, k := range s {
			n += k
		}
		return n == 29
	})
	sizes, at = rec.get()
	if want := []int{1, 3, 10, 10, 5}; !slices.Equal(sizes, want) {
		t.Fatalf("batch sizes %v, want %v (COUNT is BatchCount, not the adaptive MinBatchCount)", sizes, want)
	}
	if d := at[3].Sub(at[2]); d >= interval*8/10 {
		t.Errorf("the read after a full one came %v later, want at once (not paced)", d)
	}
}
