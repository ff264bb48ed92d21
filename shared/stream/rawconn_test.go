package stream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// kinds renders replies as "kind:int" (or "-" and the error) for
// comparison.
func kinds(rs []Reply) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteByte(' ')
		}
		if r.Err != nil {
			fmt.Fprintf(&b, "-%s", strings.Fields(r.Err.Error())[0])
			continue
		}
		fmt.Fprintf(&b, "%c%d", r.Kind, r.Int)
	}
	return b.String()
}

func TestRawConn_RepliesOfEveryKind(t *testing.T) {
	addr := redistest.Start(t)
	c := NewRawConn(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	c.Cmd(3)
	c.Arg("SET")
	c.Arg("k")
	c.Arg("hello")
	c.Cmd(2)
	c.Arg("GET")
	c.Arg("k")
	c.Cmd(2)
	c.Arg("INCR")
	c.Arg("k") // not an integer: an error reply, not a connection error
	c.Cmd(3)
	c.ArgBytes([]byte("INCRBY"))
	c.Arg("n")
	c.ArgInt(-42)
	c.Cmd(2)
	c.Arg("GET")
	c.Arg("missing")
	c.Cmd(5)
	v := "v"
	for _, a := range []any{"XADD", "s", "*", []byte("f"), &v} {
		c.ArgAny(a)
	}
	if c.Queued() != 6 {
		t.Fatalf("Queued = %d, want 6", c.Queued())
	}
	rs, err := c.Do(ctx, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(rs), "+0 $5 -ERR :-42 $-1 $15"; got != want {
		t.Errorf("replies = %s, want %s", got, want)
	}
	var re redis.Error
	if !errors.As(rs[2].Err, &re) {
		t.Errorf("error reply %v is not a redis.Error", rs[2].Err)
	}
	if c.Queued() != 0 {
		t.Errorf("Queued after Do = %d, want 0", c.Queued())
	}
	c.Cmd(3)
	c.Arg("SET")
	c.Arg("f")
	c.ArgAny(3.5)
	c.Cmd(2)
	c.Arg("GET")
	c.Arg("f")
	if rs, err = c.Do(ctx, time.Second, rs); err != nil || kinds(rs) != "+0 $3" {
		t.Errorf("SET f 3.5 (ArgAny of a float), GET f = %s, %v; want +0 $3", kinds(rs), err)
	}
}

// A MULTI/EXEC round trip: statuses, QUEUED, then the EXEC array followed
// by its elements.
func TestRawConn_Transaction(t *testing.T) {
	addr := redistest.Start(t)
	c := NewRawConn(&redis.Options{Addr: addr})
	defer c.Close()
	cmd := func(args ...string) {
		c.Cmd(len(args))
		for _, a := range args {
			c.Arg(a)
		}
	}
	cmd("MULTI")
	cmd("XADD", "s", "*", "a", "1")
	cmd("XADD", "s", "*", "a", "2")
	cmd("LPUSH", "s", "x") // WRONGTYPE at EXEC time
	cmd("EXEC")
	rs, err := c.Do(context.Background(), time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := kinds(rs), "+0 +0 +0 +0 *3 $15 $15 -WRONGTYPE"; got != want {
		t.Errorf("replies = %s, want %s", got, want)
	}
	// A second round trip on the same connection stays in step; XAdd with
	// a MAXLEN ~ trims (approximately: whole nodes of 100 entries).
	for i := range 250 {
		c.XAdd("s", 10, 2)
		c.Arg("a")
		c.ArgInt(int64(i))
	}
	cmd("XLEN", "s")
	if rs, err = c.Do(context.Background(), time.Second, rs); err != nil || rs[250].Kind != ':' || rs[250].Int >= 252 || rs[250].Int < 10 {
		t.Errorf("250 XADDs with MAXLEN ~ 10, then XLEN = %v, %v; want a trimmed length (10..251)", rs[len(rs)-1], err)
	}
}

// A dropped connection fails the round trip; the next one dials again.
func TestRawConn_Reconnects(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	c := NewRawConn(&redis.Options{Addr: addr})
	defer c.Close()
	ctx := context.Background()
	ping := func() ([]Reply, error) {
		c.Cmd(1)
		c.Arg("PING")
		return c.Do(ctx, time.Second, nil)
	}
	if _, err := ping(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := ping(); err == nil {
		t.Error("PING on a killed connection succeeded")
	}
	if rs, err := ping(); err != nil || kinds(rs) != "+0" {
		t.Errorf("PING after a reconnect = %s, %v; want +0", kinds(rs), err)
	}
}

// A round trip is bounded by its timeout and by ctx.
func TestRawConn_TimeoutAndCancel(t *testing.T) {
	addr := redistest.Start(t)
	c := NewRawConn(&redis.Options{Addr: addr})
	defer c.Close()
	blpop := func(ctx context.Context, timeout time.Duration) error {
		c.Cmd(3)
		c.Arg("BLPOP")
		c.Arg("nothing")
		c.Arg("10")
		_, err := c.Do(ctx, timeout, nil)
		return err
	}
	start := time.Now()
	if err := blpop(context.Background(), 100*time.Millisecond); err == nil || time.Since(start) > 3*time.Second {
		t.Errorf("BLPOP with a 100ms timeout = %v after %v, want an error at once", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	if err := blpop(ctx, time.Minute); !errors.Is(err, context.Canceled) || time.Since(start) > 3*time.Second {
		t.Errorf("BLPOP cancelled after 100ms = %v after %v, want context.Canceled at once", err, time.Since(start))
	}
}

func TestParseInt(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "42": 42, "-1": -1, "123456789012345678": 123456789012345678} {
		if got, ok := parseInt([]byte(in)); !ok || got != want {
			t.Errorf("parseInt(%q) = %d, %v; want %d", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "-", "1x", "+1", "1234567890123456789"} {
		if _, ok := parseInt([]byte(in)); ok {
			t.Errorf("parseInt(%q) ok, want not", in)
		}
	}
}

// A Redis on a Unix socket (REDIS_ADDR=unix:/path): RawConn and the fast
// XREADGROUP reader dial it as go-redis does.
func TestRawConn_UnixSocket(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "redis.sock")
	redistest.Start(t, "--unixsocket", sock, "--unixsocketperm", "700")
	opts := &redis.Options{Network: "unix", Addr: sock}
	c := NewRawConn(opts)
	defer c.Close()
	c.Cmd(5)
	for _, a := range []string{"XADD", "s", "*", "f", "v"} {
		c.Arg(a)
	}
	c.Cmd(5)
	for _, a := range []string{"XGROUP", "CREATE", "s", "g", "0"} {
		c.Arg(a)
	}
	if rs, err := c.Do(context.Background(), time.Second, nil); err != nil || kinds(rs) != "$15 +0" {
		t.Fatalf("XADD, XGROUP CREATE over a Unix socket = %s, %v; want $15 +0", kinds(rs), err)
	}
	r := newRESPReader(opts)
	defer r.close()
	msgs, _, err := r.xreadgroupFields(context.Background(), "g", "c", "s", ">", 10, -1, time.Second, false)
	if err != nil || len(msgs) != 1 || msgs[0].Values["f"] != "v" {
		t.Errorf("XREADGROUP over a Unix socket = %v, %v; want the entry f=v", msgs, err)
	}
}

// TestRawConn_Dialer: a Dialer in the options is used for every dial (as
// go-redis does), so a caller can route or wrap the connection.
func TestRawConn_Dialer(t *testing.T) {
	addr := redistest.Start(t)
	var dials atomic.Int32
	opts := &redis.Options{Addr: "not-a-host:1", Dialer: func(ctx context.Context, network, _ string) (net.Conn, error) {
		dials.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
	c := NewRawConn(opts)
	defer c.Close()
	for range 2 {
		c.Cmd(1)
		c.Arg("PING")
		if rs, err := c.Do(context.Background(), time.Second, nil); err != nil || kinds(rs) != "+0" {
			t.Fatalf("PING through the Dialer = %s, %v; want +0", kinds(rs), err)
		}
		c.Close()
	}
	if n := dials.Load(); n != 2 {
		t.Errorf("Dialer called %d times, want 2 (one per connection)", n)
	}
}
