package pipeline

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

func testRedis(t *testing.T, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, ReadTimeout: time.Second, MaxRetries: 1})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// writerRun runs a Writer; feed sends parsed batches of lines to it.
type writerRun struct {
	m    *metrics.Metrics
	p    *Parser
	in   chan *Events
	done chan error
}

func startWriter(t *testing.T, ctx context.Context, rdb *redis.Client, cfg WriterConfig) *writerRun {
	t.Helper()
	if cfg.ChatStream == "" {
		cfg.ChatStream, cfg.ModStream = "chat", "mod"
	}
	m := newMetrics()
	w := &writerRun{m: m, p: NewParser(ParserConfig{}, nil, nil, m), in: make(chan *Events, 4), done: make(chan error, 1)}
	wr := NewWriter(cfg, rdb.Options(), w.in, m)
	go func() { w.done <- wr.Run(ctx) }()
	return w
}

func (w *writerRun) feed(lines ...string) {
	ev := newEvents()
	w.p.Process(batch(w.m, 1, lines...), ev)
	w.in <- ev
}

func (w *writerRun) finish(t *testing.T) {
	t.Helper()
	close(w.in)
	select {
	case err := <-w.done:
		if err != nil {
			t.Errorf("Writer.Run() = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Writer.Run did not return")
	}
}

func chatN(i int) string {
	return strings.Replace(chatLine, "id=1111", fmt.Sprintf("id=%06d", i), 1)
}

func TestWriter_PublishesInOrder(t *testing.T) {
	rdb := testRedis(t, redistest.Start(t))
	w := startWriter(t, context.Background(), rdb, WriterConfig{BatchSize: 64})
	const n = 1000
	for i := 0; i < n; i += 10 {
		var lines []string
		for j := i; j < i+10; j++ {
			lines = append(lines, chatN(j))
		}
		w.feed(append(lines, strings.Replace(timeoutLine, "tmi-sent-ts=1700000000999", fmt.Sprintf("tmi-sent-ts=%d", i), 1))...)
	}
	w.finish(t)
	ctx := context.Background()
	msgs, err := rdb.XRange(ctx, "chat", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("XLEN chat = %d, want %d", len(msgs), n)
	}
	for i, x := range msgs {
		c, err := event.DecodeChat(x.Values)
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if want := fmt.Sprintf("%06d", i); !strings.HasPrefix(c.MsgID, want) {
			t.Fatalf("entry %d has msg_id %s, want prefix %s (order kept)", i, c.MsgID, want)
		}
	}
	if got, _ := rdb.XLen(ctx, "mod").Result(); got != n/10 {
		t.Errorf("XLEN mod = %d, want %d", got, n/10)
	}
	equal(t, "published{chat}", metrics.Value(w.m.Published[metrics.Chat]), n)
	equal(t, "published{mod}", metrics.Value(w.m.Published[metrics.Mod]), n/10)
	balanced(t, w.m)
	// No round trip carried more than BatchSize entries.
	var d dto.Metric
	if err := w.m.PublishBatchSize.Write(&d); err != nil {
		t.Fatal(err)
	}
	for _, b := range d.GetHistogram().GetBucket() {
		if b.GetUpperBound() == 64 && b.GetCumulativeCount() != d.GetHistogram().GetSampleCount() {
			t.Errorf("%d of %d round trips were larger than BatchSize 64",
				d.GetHistogram().GetSampleCount()-b.GetCumulativeCount(), d.GetHistogram().GetSampleCount())
		}
	}
}

func TestWriter_ApproximateMaxLen(t *testing.T) {
	rdb := testRedis(t, redistest.Start(t))
	w := startWriter(t, context.Background(), rdb, WriterConfig{BatchSize: 100, ChatMaxLen: 100})
	for i := range 30 {
		var lines []string
		for j := range 100 {
			lines = append(lines, chatN(i*100+j))
		}
		w.feed(lines...)
	}
	w.finish(t)
	n, _ := rdb.XLen(context.Background(), "chat").Result()
	if n < 100 || n >= 3000 {
		t.Errorf("XLEN chat = %d after 3000 XADDs with MAXLEN ~ 100, want 100 <= n < 3000", n)
	}
	equal(t, "published{chat}", metrics.Value(w.m.Published[metrics.Chat]), 3000)
}

// While Redis is down the writer retries the same entries; when it is back
// each is published exactly once.
func TestWriter_RetriesUntilRedisIsBack(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := testRedis(t, srv.Addr)
	w := startWriter(t, context.Background(), rdb, WriterConfig{BatchSize: 8, RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	srv.Stop()
	var lines []string
	for i := range 20 {
		lines = append(lines, chatN(i))
	}
	w.feed(lines...) // one batch: the writer stops reading while it retries
	deadline := time.Now().Add(10 * time.Second)
	for metrics.Value(w.m.PublishRetries) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	equal(t, "published{chat} while Redis is down", metrics.Value(w.m.Published[metrics.Chat]), 0)
	srv.Restart(t)
	w.finish(t)
	if n, err := rdb.XLen(context.Background(), "chat").Result(); n != 20 || err != nil {
		t.Errorf("XLEN chat = %d, %v after restart; want 20", n, err)
	}
	equal(t, "published{chat}", metrics.Value(w.m.Published[metrics.Chat]), 20)
	if metrics.Value(w.m.PublishRetries) == 0 {
		t.Error("publish_retries_total = 0, want > 0")
	}
	if metrics.Value(w.m.PublishBatches[metrics.BatchError]) == 0 {
		t.Error("publish_batches_total{result=error} = 0, want > 0")
	}
	balanced(t, w.m)
}

// At the drain deadline the writer gives up and accounts what it still
// holds as dropped (shutdown).
func TestWriter_ShutdownDeadlineDrops(t *testing.T) {
	srv := redistest.StartServer(t)
	rdb := testRedis(t, srv.Addr)
	srv.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	w := startWriter(t, ctx, rdb, WriterConfig{BatchSize: 4, RetryBase: 10 * time.Millisecond, RetryMax: 20 * time.Millisecond})
	// 6 entries: a chunk of 4 being retried, a chunk of 2 waiting.
	w.feed(chatN(0), chatN(1), chatN(2), chatN(3), chatN(4), chatN(5))
	time.Sleep(50 * time.Millisecond)
	cancel()
	w.feed(chatN(6)) // queued; dropped after the deadline
	w.finish(t)
	equal(t, "dropped{chat,shutdown}", metrics.Value(w.m.Dropped[metrics.Chat][metrics.DropShutdown]), 7)
	balanced(t, w.m)
}

// A permanent error (the key holds another type) drops only that entry;
// the rest of the pipeline is published.
func TestWriter_RejectedEntryIsDropped(t *testing.T) {
	rdb := testRedis(t, redistest.Start(t))
	ctx := context.Background()
	if err := rdb.Set(ctx, "chat", "not a stream", 0).Err(); err != nil {
		t.Fatal(err)
	}
	w := startWriter(t, ctx, rdb, WriterConfig{})
	w.feed(chatN(1), timeoutLine, chatN(2))
	w.finish(t)
	equal(t, "dropped{chat,rejected}", metrics.Value(w.m.Dropped[metrics.Chat][metrics.DropRejected]), 2)
	equal(t, "published{mod}", metrics.Value(w.m.Published[metrics.Mod]), 1)
	equal(t, "publish_batches{partial}", metrics.Value(w.m.PublishBatches[metrics.BatchPartial]), 1)
	balanced(t, w.m)
}

func TestPermanent(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{redis.ErrClosed, false},
		{context.DeadlineExceeded, false},
		{fmt.Errorf("dial: %w", redis.ErrPoolTimeout), false},
	}
	for _, tt := range tests {
		if got := permanent(tt.err); got != tt.want {
			t.Errorf("permanent(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
	// Server replies, obtained from a real server.
	rdb := testRedis(t, redistest.Start(t))
	ctx := context.Background()
	rdb.Set(ctx, "s", "x", 0)
	replies := []struct {
		name string
		err  error
		want bool
	}{
		{"WRONGTYPE", rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"a", "b"}}).Err(), true},
		{"ERR syntax", rdb.Do(ctx, "XADD", "x", "MAXLEN", "~", "notanumber", "*", "a", "b").Err(), true},
		{"LOADING", redis.Error(redisError("LOADING Redis is loading the dataset in memory")), false},
		{"OOM", redis.Error(redisError("OOM command not allowed when used memory > 'maxmemory'.")), false},
	}
	for _, r := range replies {
		if r.err == nil {
			t.Fatalf("%s: no error from the server", r.name)
		}
		if got := permanent(r.err); got != r.want {
			t.Errorf("permanent(%q) = %v, want %v", r.err, got, r.want)
		}
	}
}

type redisError string

func (e redisError) Error() string { return string(e) }
func (e redisError) RedisError()   {}

// BenchmarkWriter_Send measures one pipelined round trip of 256 chat
// entries (ingest's batch size) against a real Redis: encoding, the write
// and the replies. ns/entry is the wall time per entry (the Writer's
// goroutine waits for Redis meanwhile); redis-us/entry is the Redis
// server's CPU time per XADD.
func BenchmarkWriter_Send(b *testing.B) {
	addr := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	m := newMetrics()
	p := NewParser(ParserConfig{}, nil, nil, m)
	const n = DefaultBatchSize
	ev := newEvents()
	lines := make([]string, n)
	for i := range lines {
		lines[i] = chatN(i)
	}
	p.Process(batch(m, 1, lines...), ev)
	if len(ev.entries) != n {
		b.Fatalf("parsed %d entries, want %d", len(ev.entries), n)
	}
	w := NewWriter(WriterConfig{ChatStream: "chat", ModStream: "mod", ChatMaxLen: 10_000}, rdb.Options(), nil, m)
	defer w.raw.Close()
	ps := make([]pending, 0, n)
	for _, e := range ev.entries {
		ps = append(ps, pending{kind: e.kind, vals: ev.args[e.start:e.end:e.end]})
	}
	ctx := context.Background()
	c0 := redistest.CPU(b, addr)
	b.ReportAllocs()
	for b.Loop() {
		if left := w.send(ctx, ps); len(left) != 0 {
			b.Fatalf("%d entries not published", len(left))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/entry")
	b.ReportMetric((redistest.CPU(b, addr)-c0)*1e6/float64(b.N*n), "redis-us/entry")
}
