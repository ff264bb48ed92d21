package stream

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// pendingEntries returns the group's PEL: entry ID -> (consumer, deliveries).
func pendingEntries(t *testing.T, rdb *redis.Client) map[string]redis.XPendingExt {
	t.Helper()
	ps, err := rdb.XPendingExt(context.Background(), &redis.XPendingExtArgs{
		Stream: testStream, Group: testGroup, Start: "-", End: "+", Count: 1 << 20}).Result()
	if err != nil {
		t.Fatalf("XPENDING: %v", err)
	}
	out := make(map[string]redis.XPendingExt, len(ps))
	for _, p := range ps {
		out[p.ID] = p
	}
	return out
}

func TestConsumer_KeepWithRejectDeadLettersOnlyTheRejected(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	ids := addEntries(t, rdb, 0, 6)
	kept := make(chan []string, 1)
	h := HandlerFunc(func(_ context.Context, b *Batch) error {
		b.Keep()
		var ok []string
		for i, m := range b.Msgs {
			switch m.Values["n"] {
			case "1":
				b.Reject(i, "bad_input: one")
				b.Reject(i, "bad_input: one again") // the same entry twice: one dead letter
			case "4":
				b.Reject(i, "schema: four")
			default:
				ok = append(ok, m.ID)
			}
		}
		kept <- ok
		return nil
	})
	m := NewConsumerMetrics(nil, "test")
	c := mustConsumer(t, rdb, testConfig(), h, m)
	runConsumer(t, c)
	ok := <-kept
	want := []string{ids[0], ids[2], ids[3], ids[5]}
	if !slices.Equal(ok, want) {
		t.Fatalf("kept %v, want %v", ok, want)
	}
	waitFor(t, "2 dead letters", func() bool { n, _ := rdb.XLen(context.Background(), testDL).Result(); return n >= 2 })
	waitFor(t, "the rejected entries acked", func() bool { return pendingCount(t, rdb) == 4 })

	// The kept entries, and only they, stay pending until the handler acks.
	pel := pendingEntries(t, rdb)
	for _, id := range want {
		if _, ok := pel[id]; !ok {
			t.Errorf("kept entry %s is not pending", id)
		}
	}
	xs, err := rdb.XRange(context.Background(), testDL, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(xs) != 2 {
		t.Fatalf("dead letters = %d, want 2 (one per rejected entry)", len(xs))
	}
	wantDL := map[string]string{ids[1]: "bad_input: one", ids[4]: "schema: four"}
	for _, x := range xs {
		dl, err := DecodeDeadLetter(x.Values)
		if err != nil {
			t.Fatal(err)
		}
		if reason, ok := wantDL[dl.SrcID]; !ok || dl.Reason != reason || dl.Deliveries != 1 || dl.Payload["n"] == "" {
			t.Errorf("dead letter %+v, want one of %v with its payload", dl, wantDL)
		}
	}
	if got := metricValue(m.deadLetters.WithLabelValues(testStream, "bad_input")); got != 1 {
		t.Errorf("dead_letters_total{bad_input} = %v, want 1", got)
	}
	if got := metricValue(m.deadLetters.WithLabelValues(testStream, "schema")); got != 1 {
		t.Errorf("dead_letters_total{schema} = %v, want 1", got)
	}
	if err := c.Ack(context.Background(), ok...); err != nil {
		t.Fatal(err)
	}
	if n := pendingCount(t, rdb); n != 0 {
		t.Errorf("pending after acking the kept entries = %d, want 0", n)
	}
}

func TestConsumer_ClaimAll(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	cfg := testConfig()
	cfg.Workers = 2
	c := mustConsumer(t, rdb, cfg, &recorder{}, nil)
	ctx := context.Background()

	if n, err := c.ClaimAll(ctx); n != 0 || err != nil {
		t.Errorf("ClaimAll() of an empty PEL = %d, %v; want 0, nil", n, err)
	}
	// 2,500 entries pending under three other consumers (more than one
	// XAUTOCLAIM page), some delivered twice, 3 pending under worker 1,
	// and 5 never delivered.
	ids := addEntries(t, rdb, 0, 2508)
	readAs(t, rdb, "old-replica-0", 1200)
	readAs(t, rdb, "old-replica-1", 800)
	readAs(t, rdb, "renamed-0", 500)
	readAs(t, rdb, c.ConsumerName(1), 3)
	err := rdb.XClaim(ctx, &redis.XClaimArgs{Stream: testStream, Group: testGroup, Consumer: "renamed-0",
		Messages: ids[10:20]}).Err() // a second delivery of 10 entries
	if err != nil {
		t.Fatal(err)
	}
	before := pendingEntries(t, rdb)
	if len(before) != 2503 || before[ids[15]].RetryCount != 2 {
		t.Fatalf("setup: %d pending, entry 15 delivered %d times; want 2503, 2", len(before), before[ids[15]].RetryCount)
	}

	n, err := c.ClaimAll(ctx)
	if err != nil || n != 2503 {
		t.Fatalf("ClaimAll() = %d, %v; want 2503, nil", n, err)
	}
	after := pendingEntries(t, rdb)
	if len(after) != len(before) {
		t.Errorf("pending after ClaimAll = %d, want %d", len(after), len(before))
	}
	for id, p := range after {
		if p.Consumer != c.ConsumerName(0) {
			t.Errorf("entry %s is pending under %s, want %s", id, p.Consumer, c.ConsumerName(0))
		}
		if p.RetryCount != before[id].RetryCount {
			t.Errorf("entry %s delivered %d times after ClaimAll, want %d (unchanged)", id, p.RetryCount, before[id].RetryCount)
		}
	}
	gs, err := rdb.XInfoGroups(ctx, testStream).Result()
	if err != nil || len(gs) != 1 || gs[0].Lag != 5 {
		t.Errorf("XINFO GROUPS = %+v, %v; want the 5 undelivered entries still undelivered (lag 5)", gs, err)
	}
	if n, err := c.ClaimAll(ctx); n != 2503 || err != nil {
		t.Errorf("second ClaimAll() = %d, %v; want 2503 (its own entries), nil", n, err)
	}

	// Worker 0 then re-reads all of them, in ID order, as its own (one
	// worker, as the sink runs it: nothing reads new entries meanwhile).
	rec := &recorder{}
	cfg.Workers = 1
	c2 := mustConsumer(t, rdb, cfg, rec, nil)
	runConsumer(t, c2)
	waitFor(t, "every entry handled", func() bool { return len(rec.snapshot()) == 2508 })
	seen := rec.snapshot()
	for i, e := range seen {
		if e.n != strconv.Itoa(i) {
			t.Fatalf("entry %d handled as number %s, want ID order", i, e.n)
		}
		if i < 2503 && (e.src != SourcePending || e.deliveries != before[ids[i]].RetryCount+1) {
			t.Errorf("entry %d: source %s, deliveries %d; want pending, %d", i, e.src, e.deliveries, before[ids[i]].RetryCount+1)
		}
	}
}

func TestConsumer_ClaimAllWithoutGroup(t *testing.T) {
	rdb := newClient(t, redistest.Start(t))
	c, err := NewConsumer(rdb, testConfig(), &recorder{}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.ClaimAll(context.Background()); n != 0 || err != nil {
		t.Errorf("ClaimAll() without a group = %d, %v; want 0, nil", n, err)
	}
}
