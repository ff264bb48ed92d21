package main

import (
	"context"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func TestSummarize_Lost(t *testing.T) {
	ingest := map[string]float64{
		`streamsafe_ingest_lines_received_total{kind="chat"}`:                   1010,
		`streamsafe_ingest_messages_published_total{kind="chat"}`:               990,
		`streamsafe_ingest_rate_limited_total{kind="chat"}`:                     5,
		`streamsafe_ingest_duplicates_total{kind="chat"}`:                       10,
		`streamsafe_ingest_parse_errors_total{kind="chat"}`:                     3,
		`streamsafe_ingest_lines_dropped_total{kind="chat",reason="shutdown"}`:  2,
		`streamsafe_ingest_lines_dropped_total{kind="mod",reason="shutdown"}`:   7, // other kinds do not count
		`streamsafe_ingest_lines_filtered_total{command="PING",kind="control"}`: 4,
		`streamsafe_ingest_messages_published_total{kind="mod"}`:                50,
	}
	chat := StreamStats{Entries: 990, UniqueIDs: 990, FirstMs: 1000, LastMs: 3000}
	tests := []struct {
		name string
		sim  simStats
		chat StreamStats
		want float64
	}{
		{"all accounted", simStats{Sent: 1000}, chat, 0},
		{"ingest dropped silently", simStats{Sent: 1004}, chat, 4},
		{"simulator could not write to ingest", simStats{Sent: 1000, Dropped: 6}, chat, 6},
		{"published but missing from the stream", simStats{Sent: 1000}, StreamStats{Entries: 980, UniqueIDs: 980, FirstMs: 1000, LastMs: 3000}, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.sim, ingest, tt.chat, nil, nil, nil)
			if s.Lost != tt.want {
				t.Errorf("Lost = %v, want %v (summary %+v)", s.Lost, tt.want, s)
			}
		})
	}
	if s := summarize(simStats{Sent: 1000}, ingest, chat, nil, nil, nil); s.MsgsPerSec != 495 || s.Duplicates != 10 || s.Dropped != 2 {
		t.Errorf("summary = %+v, want 495 msgs/s, 10 duplicates, 2 dropped", s)
	}
}

func TestCPUSeconds_OwnProcess(t *testing.T) {
	x := 0
	for i := range 300_000_000 { // about 0.1-0.3 s of CPU
		x ^= i
	}
	s, err := cpuSeconds(os.Getpid())
	if err != nil || s <= 0 || s > 3600 {
		t.Errorf("cpuSeconds(self) = %v, %v (x=%d); want > 0", s, err, x)
	}
	if _, err := cpuSeconds(-1); err == nil {
		t.Error("cpuSeconds(-1): want an error")
	}
}

func TestDecideHistogram(t *testing.T) {
	m := map[string]float64{
		decideLatency:                         1000,
		decideLatency + `_bucket{le="0.001"}`: 500,
		decideLatency + `_bucket{le="0.002"}`: 900,
		decideLatency + `_bucket{le="0.005"}`: 980,
		decideLatency + `_bucket{le="0.01"}`:  1000,
		decideLatency + `_bucket{le="+Inf"}`:  1000,
	}
	h := decideHistogram(m)
	if h == nil || h.Within5ms != 0.98 {
		t.Fatalf("decideHistogram = %+v, want 98%% within 5 ms", h)
	}
	// 990 lies halfway between 980 (5 ms) and 1000 (10 ms).
	if h.P99MsApprox < 7.49 || h.P99MsApprox > 7.51 {
		t.Errorf("p99 = %v ms, want 7.5", h.P99MsApprox)
	}
	if decideHistogram(map[string]float64{}) != nil {
		t.Error("no histogram: want nil")
	}
}

// TestScrape_HistogramSums: scrape keeps a histogram's count under its
// name (with and without labels) and its sum under <name>_sum, so
// chatBatchMean can read decide's batch sizes per stream.
func TestScrape_HistogramSums(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: decideBatchSize, Buckets: []float64{1, 10, 100}}, []string{"stream"})
	reg.MustRegister(h)
	for _, n := range []float64{20, 20, 40, 120} {
		h.WithLabelValues("streamsafe:chat").Observe(n)
	}
	h.WithLabelValues("streamsafe:mod").Observe(1)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	m, err := scrape(context.Background(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	if got := m[decideBatchSize]; got != 5 {
		t.Errorf("count over both streams = %v, want 5", got)
	}
	if got := m[decideBatchSize+"_sum"]; got != 201 {
		t.Errorf("sum over both streams = %v, want 201", got)
	}
	if got := chatBatchMean(m, "streamsafe:chat"); got != 50 {
		t.Errorf("chat batch mean = %v, want 50", got)
	}
	if got := chatBatchMean(m, "streamsafe:other"); got != 0 {
		t.Errorf("batch mean of a stream without batches = %v, want 0", got)
	}
}

// TestPrintSummary_CPUPerMessage: the readable summary gives each process's
// CPU per published message, and their total.
func TestPrintSummary_CPUPerMessage(t *testing.T) {
	var b strings.Builder
	s := Summary{Published: 2_000_000, CPUSec: map[string]float64{"decide": 24, "redis": 40}, PeakRSSMB: map[string]float64{}}
	if err := printSummary(&b, s); err != nil {
		t.Fatal(err)
	}
	if want := "CPU per published message (us): decide 12.0 redis 20.0 total 32.0\n"; !strings.Contains(b.String(), want) {
		t.Errorf("summary %q lacks %q", b.String(), want)
	}
}
