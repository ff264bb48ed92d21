package decider

import (
	"context"
	"fmt"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// nullStore answers every read with empty snapshots, without Redis.
type nullStore struct{}

func (nullStore) SnapshotsSys(_ context.Context, msgs []featurestore.Msg, out []features.Snapshot, _ []featurestore.SysAction) error {
	clear(out[:len(msgs)])
	return nil
}

func (nullStore) ApplySys(context.Context, []featurestore.SysAction) (int, error) { return 0, nil }

// benchBatch returns n chat entries as a consumer would hand them over.
func benchBatch(n int) *stream.Batch {
	texts := []string{
		"hello chat how is everyone doing today", "you are such an idiot lol",
		"WHY IS THIS STREAMER SO BAD AT THIS GAME", "check out https://cheap-followers.example",
		"Kappa Kappa Kappa", "gg wp", "copy pasta copy pasta copy pasta copy pasta",
	}
	b := &stream.Batch{Stream: "streamsafe:chat", Group: "decide", Consumer: "bench-0", ReadAt: time.Now(), Attempt: 1}
	for i := range n {
		c := event.Chat{MsgID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i), RoomID: "1", Channel: "chan",
			UserID: fmt.Sprint(i % 37), Login: "l", Text: texts[i%len(texts)], TmiSentTsMs: t0 + int64(i)*10, EmoteCount: i % 3}
		vals := map[string]any{}
		kv := c.Values(nil)
		for j := 0; j < len(kv); j += 2 {
			vals[kv[j].(string)] = kv[j+1]
		}
		b.Msgs = append(b.Msgs, redis.XMessage{ID: fmt.Sprintf("%d-%d", t0, i), Values: vals})
		b.Deliveries = append(b.Deliveries, 1)
	}
	return b
}

// BenchmarkDecider_Batch measures HandleBatch for a batch of 100: decode,
// features, store, score, clamp, encode, write. redis=bus replaces the
// feature store with a no-op (the decision path and its write);
// redis=true also uses a real feature store: two Redis servers (one for
// the bus, one for the feature store) on loopback. Every message gets a
// new msg id and time (one allocation per message, in the benchmark) and
// the load test's mix of authors (any of 50,000 users in any of 100
// channels). It reports each Redis server's CPU per decision (INFO cpu):
// bus-us (the MULTI/EXEC of decisions and acks) and store-us (the
// feature-store scripts); cpu-us/decision is this process's CPU
// (getrusage) per decision.
func BenchmarkDecider_Batch(b *testing.B) {
	const n = 100
	for _, withStore := range []bool{false, true} {
		name := fmt.Sprintf("redis=bus/batch=%d", n)
		if withStore {
			name = fmt.Sprintf("redis=true/batch=%d", n)
		}
		b.Run(name, func(b *testing.B) {
			deps := Deps{Core: testCore(b, 0.05), Terms: testTerms(b), Log: logging.Discard(), Store: nullStore{}}
			bus := newRedis(b, redistest.Start(b))
			if err := bus.XGroupCreateMkStream(context.Background(), "streamsafe:chat", "decide", "0").Err(); err != nil {
				b.Fatal(err)
			}
			deps.Bus = bus.Options()
			servers := []*redis.Client{bus}
			if withStore {
				fs := newRedis(b, redistest.Start(b))
				cfg := featurestore.DefaultConfig()
				cfg.Timeout = time.Second
				store, err := featurestore.New(fs, cfg)
				if err != nil {
					b.Fatal(err)
				}
				deps.Store = store
				servers = append(servers, fs)
			}
			d, err := New(Config{DecisionsStream: "streamsafe:decisions", DecisionsMaxLen: 10_000, Budget: time.Second}, deps)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			batch := benchBatch(n)
			ctx := context.Background()
			seq := int64(0)
			chans := make([]string, 100)
			for i := range chans {
				chans[i] = fmt.Sprint("simchan", i)
			}
			users := make([]string, 50_000)
			for i := range users {
				users[i] = fmt.Sprint(30_000_000 + i)
			}
			cpu0 := make([]float64, len(servers))
			for i, s := range servers {
				cpu0[i] = redistest.CPU(b, s.Options().Addr)
			}
			proc0 := processCPU(b)
			b.ReportAllocs()
			for b.Loop() {
				batch.ReadAt = time.Now()
				for i := range batch.Msgs {
					seq++
					v := batch.Msgs[i].Values
					v[event.FieldMsgID] = strconv.FormatInt(seq, 10)
					v[event.FieldTimes] = strconv.FormatInt(t0+seq/30, 10) + ",0" // 30k messages per second
					v[event.FieldChannel] = chans[seq*7%100]
					v[event.FieldUserID] = users[seq*7919%50_000]
				}
				if err := d.HandleBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/decision")
			b.ReportMetric((processCPU(b)-proc0)*1e6/float64(b.N*n), "cpu-us/decision")
			for i, unit := range []string{"bus-us/decision", "store-us/decision"}[:len(servers)] {
				b.ReportMetric((redistest.CPU(b, servers[i].Options().Addr)-cpu0[i])*1e6/float64(b.N*n), unit)
			}
		})
	}
}

// BenchmarkCore_Decide measures one decision from computed message
// features: Build, Score, Decide, clamp and exploration.
func BenchmarkCore_Decide(b *testing.B) {
	core := testCore(b, 0.05)
	var m features.Message
	features.ComputeMessage([]byte("WHY IS THIS STREAMER SO BAD you idiot"), 0, 0, false, nil, nil, testTerms(b), &m)
	in := Inputs{DecisionID: event.DecisionID("1-0", "m"), Channel: []byte("chan"), Msg: &m, NowMs: t0,
		Snap: features.Snapshot{UserMsgCount: 4, UserMsgs10s: 2, LastMsgMs: t0 - 3000}}
	var v features.Vector
	var d event.Decision
	b.ReportAllocs()
	for b.Loop() {
		core.Decide(&in, &v, &d)
	}
}

func TestCore_DecideAllocs(t *testing.T) {
	core := testCore(t, 0.5)
	var m features.Message
	features.ComputeMessage([]byte("you idiot"), 0, 0, false, nil, nil, testTerms(t), &m)
	in := Inputs{DecisionID: "d", Channel: []byte("chan"), Msg: &m, NowMs: t0}
	var v features.Vector
	var d event.Decision
	core.Decide(&in, &v, &d) // grows d's slices once
	if n := testing.AllocsPerRun(100, func() { core.Decide(&in, &v, &d) }); n != 0 {
		t.Errorf("Core.Decide allocates %v times per decision, want 0", n)
	}
}

// processCPU returns this process's user+system CPU time in seconds (the
// Redis servers are other processes).
func processCPU(tb testing.TB) float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
