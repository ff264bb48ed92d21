package main

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/redistest"
)

// prefill adds n decisions to the decisions stream in pipelined batches.
func prefill(b *testing.B, rdb *redis.Client, key string, n int) {
	b.Helper()
	ctx := context.Background()
	for off := 0; off < n; off += 1000 {
		p := rdb.Pipeline()
		for i := off; i < min(off+1000, n); i++ {
			d := testDecision(i)
			p.XAdd(ctx, &redis.XAddArgs{Stream: key, Values: d.Values(nil)})
		}
		if _, err := p.Exec(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSink_Decisions measures the sink end to end against a real
// redis-server and real files: each iteration drains 100,000 decisions
// already on the stream into one fsynced Parquet file (default row-group
// limit) and acknowledges them. rows/s is the figure for the
// acceptance criterion.
func BenchmarkSink_Decisions(b *testing.B) {
	const n = 100_000
	addr := redistest.Start(b)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	cfg := testConfig(&testing.T{}, addr, b.TempDir())
	cfg.Streams = "decisions"
	cfg.BatchCount, cfg.RowGroupRows, cfg.FileRows, cfg.FileBytes, cfg.FileAge = benchBatch, 20_000, n, 256<<20, 30*time.Second
	cfg.HTTPAddr = ""
	// The entries are written once to a template stream and copied
	// server-side (COPY) before each iteration.
	const template = "bench:decisions"
	prefill(b, rdb, template, n)
	b.ReportAllocs()
	var rows int
	for b.Loop() {
		b.StopTimer()
		ctx := context.Background()
		if err := rdb.Del(ctx, cfg.Keys.Decisions, cfg.Keys.DeadLetter).Err(); err != nil {
			b.Fatal(err)
		}
		if err := rdb.Copy(ctx, template, cfg.Keys.Decisions, 0, true).Err(); err != nil {
			b.Fatal(err)
		}
		cfg.Dir = b.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		b.StartTimer()
		go func() { done <- run(ctx, cfg, logging.Discard()) }()
		// Rows are acked only after their file is committed (the file
		// limit is n rows): drained means all of them are on disk.
		for {
			gs, err := rdb.XInfoGroups(context.Background(), cfg.Keys.Decisions).Result()
			if err == nil && len(gs) == 1 && gs[0].Lag == 0 && gs[0].Pending == 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		rows += n
	}
	b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
}

// benchBatch is the XREADGROUP COUNT of BenchmarkSink_Decisions.
var benchBatch int64 = 1000

func init() {
	if v := os.Getenv("SINK_BENCH_BATCH"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			benchBatch = n
		}
	}
}
