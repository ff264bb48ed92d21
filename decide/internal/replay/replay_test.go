package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/decide/internal/decider"
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// policy scores shouting, copypasta and links; its thresholds spread the
// decisions over every action.
type policy struct{ version string }

func (p policy) Score(v *features.Vector, _ []byte) float64 {
	s := 0.7*float64(v[features.Index("caps_x_len")]) + 0.2*float64(v[features.Index("links_other")]) +
		0.15*float64(v[features.Index("dup_60s_log1p")]) + 0.1*float64(v[features.Index("user_msgs_10s_log1p")])
	return min(max(s, 0), 1)
}

func (p policy) Decide(score float64, _ []byte) event.Action {
	switch {
	case score >= 0.8:
		return event.Action{Kind: event.Timeout, DurationS: 600}
	case score >= 0.6:
		return event.Action{Kind: event.Timeout, DurationS: 60}
	case score >= 0.4:
		return event.Action{Kind: event.Delete}
	case score >= 0.25:
		return event.Action{Kind: event.Warn}
	}
	return event.Action{}
}

func (p policy) Version() string { return p.version }

const (
	chatKey = "streamsafe:chat"
	decKey  = "streamsafe:decisions"
)

// produce runs the decide pipeline over n varied messages, with a
// feature-store outage in the middle and one undecodable entry, and returns
// the bus client.
func produce(t *testing.T, n int, eps float64) *redis.Client {
	t.Helper()
	bus := redis.NewClient(&redis.Options{Addr: redistest.Start(t), ContextTimeoutEnabled: true, MaxRetries: -1})
	t.Cleanup(func() { bus.Close() })
	fsSrv := redistest.StartServer(t)
	fs := redis.NewClient(&redis.Options{Addr: fsSrv.Addr, ContextTimeoutEnabled: true, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { fs.Close() })
	fcfg := featurestore.DefaultConfig()
	fcfg.Timeout = 500 * time.Millisecond
	store, err := featurestore.New(fs, fcfg)
	if err != nil {
		t.Fatal(err)
	}
	ccfg := clamp.DefaultConfig()
	cl, _ := clamp.New(ccfg.Global, ccfg.Channels)
	cv, _ := decider.ClampVersion(ccfg)
	ex, _ := clamp.NewExplorer(eps)
	core := &decider.Core{Policy: policy{"p-1"}, Clamp: cl, Explorer: ex, ClampVersion: cv}
	dec, err := decider.New(decider.Config{DecisionsStream: decKey, Budget: time.Second}, decider.Deps{Core: core, Store: store, Bus: bus.Options(), Log: logging.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dec.Close)
	cons, err := stream.NewConsumer(bus, stream.ConsumerConfig{
		Stream: chatKey, Group: "decide", DeadLetter: "streamsafe:deadletter", ConsumerPrefix: "r", Workers: 2,
		BatchCount: 25, Block: 20 * time.Millisecond, MinIdle: time.Minute, InfoInterval: -1,
	}, dec, logging.Discard(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = cons.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	texts := []string{
		"hello chat", "GG WP EVERYONE THAT WAS AMAZING", "buy followers at cheap-views.example now",
		"copy this pasta copy this pasta", "ok", "WHAT IS THIS STREAM EVEN ABOUT SERIOUSLY",
		"check https://spam.example/x and https://more.example/y", "copy this pasta copy this pasta",
	}
	add := func(from, to int) {
		for i := from; i < to; i++ {
			c := event.Chat{MsgID: fmt.Sprintf("m-%d", i), RoomID: "1", Channel: "chan", UserID: fmt.Sprint(i % 11),
				Login: "l", Text: texts[i%len(texts)], TmiSentTsMs: 1_700_000_000_000 + int64(i)*150,
				FirstMsg: i%17 == 0, VIP: i%23 == 0, Subscriber: i%5 == 0, SubMonths: i % 30}
			if err := bus.XAdd(context.Background(), &redis.XAddArgs{Stream: chatKey, Values: c.Values(nil)}).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	wait := func(want int64) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			if l, _ := bus.XLen(context.Background(), decKey).Result(); l >= want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %d decisions", want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	add(0, n/2)
	wait(int64(n / 2))
	fsSrv.Stop()
	add(n/2, n/2+10)
	wait(int64(n/2 + 10))
	fsSrv.Restart(t)
	add(n/2+10, n)
	if err := bus.XAdd(context.Background(), &redis.XAddArgs{Stream: chatKey, Values: []any{"msg_id", "broken", "text", "x"}}).Err(); err != nil {
		t.Fatal(err)
	}
	wait(int64(n + 1))
	return bus
}

func newReplayer(t *testing.T, version string) *Replayer {
	t.Helper()
	r, err := New(policy{version}, clamp.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplay_ReproducesEveryDecision(t *testing.T) {
	for _, eps := range []float64{0, 0.3} {
		t.Run(fmt.Sprintf("eps=%v", eps), func(t *testing.T) {
			bus := produce(t, 400, eps)
			var out bytes.Buffer
			s, err := Run(context.Background(), NewStreamSource(bus, decKey, "", "", 0), newReplayer(t, "p-1"), &out)
			if err != nil {
				t.Fatal(err)
			}
			if s.Checked != 401 || s.Matched != 401 || s.Mismatched != 0 {
				t.Errorf("summary %+v, want 401 checked and matched\n%s", s, out.String())
			}
			// The run must have exercised the interesting paths.
			paths := map[string]int{}
			xs, _ := bus.XRange(context.Background(), decKey, "-", "+").Result()
			for _, x := range xs {
				d, _ := event.DecodeDecision(x.Values)
				paths[string(d.Path)+"/"+d.FailureReason]++
				paths[d.ActionFinal.String()]++
			}
			for _, k := range []string{"fail_open/feature_store_error", "fail_open/bad_input", "deterministic/", "WARN", "DELETE"} {
				if paths[k] == 0 {
					t.Errorf("no decision with %s in %v", k, paths)
				}
			}
			if eps > 0 && paths["explore/"] == 0 {
				t.Errorf("no explored decision with eps %v: %v", eps, paths)
			}
		})
	}
}

func TestReplay_ReportsMismatches(t *testing.T) {
	bus := produce(t, 60, 0.2)
	xs, err := bus.XRange(context.Background(), decKey, "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	// Dump as JSON lines, tampering with three decisions.
	var file bytes.Buffer
	tampered := 0
	for i, x := range xs {
		vals := x.Values
		d, err := event.DecodeDecision(vals)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case i == 3:
			d.ActionFinal = event.DiscreteActions[5] // TIMEOUT_3600
			tampered++
		case i == 7 && d.FailureReason == "":
			d.Snapshot[0] = 99999 // the user had written far more: the vector changes
			tampered++
		case i == 9:
			d.RiskScore = 0.123
			tampered++
		}
		kv := d.Values(nil)
		vals = make(map[string]any, len(kv)/2)
		for k := 0; k < len(kv); k += 2 {
			vals[kv[k].(string)] = kv[k+1]
		}
		b, _ := json.Marshal(vals)
		file.Write(append(b, '\n'))
	}
	var out bytes.Buffer
	s, err := Run(context.Background(), NewFileSource(&file), newReplayer(t, "p-1"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Mismatched != tampered || s.Matched != len(xs)-tampered {
		t.Errorf("summary %+v, want %d mismatched of %d\n%s", s, tampered, len(xs), out.String())
	}
	for _, f := range []string{"field=action_final", "field=risk_score"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("report lacks %s:\n%s", f, out.String())
		}
	}

	// A different policy version is reported, not silently compared.
	out.Reset()
	s, err = Run(context.Background(), NewStreamSource(bus, decKey, "", "", 5), newReplayer(t, "p-2"), &out)
	if err != nil {
		t.Fatal(err)
	}
	if s.Checked != 5 || !strings.Contains(out.String(), "field=policy_version") {
		t.Errorf("version mismatch: %+v\n%s", s, out.String())
	}
}

func TestStreamSource_Range(t *testing.T) {
	bus := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer bus.Close()
	var ids []string
	for i := range 2500 {
		id, err := bus.XAdd(context.Background(), &redis.XAddArgs{Stream: "s", Values: []any{"i", i}}).Result()
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	count := func(src Source) int {
		n := 0
		for {
			if _, err := src.Next(context.Background()); err != nil {
				return n
			}
			n++
		}
	}
	tests := []struct {
		name     string
		from, to string
		limit    int64
		want     int
	}{
		{"all", "", "", 0, 2500},
		{"count", "", "", 1234, 1234},
		{"from", ids[100], "", 0, 2400},
		{"from_to", ids[100], ids[1999], 0, 1900},
		{"from_to_count", ids[100], ids[1999], 50, 50},
	}
	for _, tt := range tests {
		if got := count(NewStreamSource(bus, "s", tt.from, tt.to, tt.limit)); got != tt.want {
			t.Errorf("%s: %d entries, want %d", tt.name, got, tt.want)
		}
	}
}
