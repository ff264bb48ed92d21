package stream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// read is xreadgroupFields building Values maps.
func (r *respReader) read(ctx context.Context, group, consumer, stream, id string, count int64, block, timeout time.Duration) ([]redis.XMessage, error) {
	msgs, _, err := r.xreadgroupFields(ctx, group, consumer, stream, id, count, block, timeout, false)
	return msgs, err
}

func TestRESPReader_AuthSelectAndReplies(t *testing.T) {
	addr := redistest.Start(t)
	ctx := context.Background()
	admin := redis.NewClient(&redis.Options{Addr: addr})
	if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
		t.Fatal(err)
	}
	admin.Close()
	t.Cleanup(func() { // let redistest's shutdown in without a password
		c := redis.NewClient(&redis.Options{Addr: addr, Password: "s3cret"})
		c.ConfigSet(context.Background(), "requirepass", "")
		c.Close()
	})
	opts := &redis.Options{Addr: addr, Password: "s3cret", DB: 3}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if err := rdb.XGroupCreateMkStream(ctx, "s", "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i, v := range []string{"plain", "", "with\r\nCRLF and ünïcode", strings.Repeat("x", 70_000)} {
		id, err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: "s", Values: []any{"n", i, "v", v}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	r := newRESPReader(opts)
	defer r.close()

	msgs, err := r.read(ctx, "g", "c", "s", ">", 10, -1, time.Second)
	if err != nil {
		t.Fatalf("xreadgroup: %v", err)
	}
	want, err := rdb.XRange(ctx, "s", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != len(want) {
		t.Fatalf("got %d entries, want %d", len(msgs), len(want))
	}
	for i := range want {
		if msgs[i].ID != want[i].ID || len(msgs[i].Values) != 2 || msgs[i].Values["v"] != want[i].Values["v"] || msgs[i].Values["n"] != want[i].Values["n"] {
			t.Errorf("entry %d = %s %.40v, want %s %.40v", i, msgs[i].ID, msgs[i].Values, want[i].ID, want[i].Values)
		}
	}

	// Nothing new: BLOCK times out with a null reply.
	if _, err := r.read(ctx, "g", "c", "s", ">", 10, 20*time.Millisecond, time.Second); err != redis.Nil {
		t.Errorf("timed-out BLOCK = %v, want redis.Nil", err)
	}
	// A pending entry whose payload was deleted comes back with nil Values.
	if err := rdb.XDel(ctx, "s", ids[1]).Err(); err != nil {
		t.Fatal(err)
	}
	msgs, err = r.read(ctx, "g", "c", "s", "0", 10, -1, time.Second)
	if err != nil || len(msgs) != 4 || msgs[1].ID != ids[1] || msgs[1].Values != nil || msgs[2].Values == nil {
		t.Errorf("pending re-read = %v entries (err %v), want 4 with the second deleted", len(msgs), err)
	}
	// Error replies are errors that keep their text (NOGROUP detection).
	if _, err := r.read(ctx, "nogroup", "c", "s", ">", 10, -1, time.Second); !isNoGroup(err) {
		t.Errorf("read of a missing group = %v, want a NOGROUP error", err)
	}
	// The connection survives error replies.
	if _, err := r.read(ctx, "g", "c", "s", "0", 1, -1, time.Second); err != nil {
		t.Errorf("read after an error reply: %v", err)
	}
	// A cancelled context interrupts a blocking read.
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := r.read(cctx, "g", "c", "s", ">", 10, 5*time.Second, 10*time.Second); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("blocking read with a 50 ms context: %v after %s", err, time.Since(start))
	}
	// And the next read dials again.
	if _, err := r.read(ctx, "g", "c", "s", "0", 1, -1, time.Second); err != nil {
		t.Errorf("read after a cancelled one: %v", err)
	}
	// Wrong password: a clear error.
	bad := newRESPReader(&redis.Options{Addr: addr, Password: "nope"})
	if _, err := bad.read(ctx, "g", "c", "s", ">", 1, -1, time.Second); err == nil || !strings.Contains(err.Error(), "auth") {
		t.Errorf("wrong password: %v, want an auth error", err)
	}
}
