// Command raidstat reads what a load test left in Redis and in the services'
// metrics and prints one JSON object: stream entry counts, duplicate message
// ids, end-to-end latency percentiles and the services' accounting counters.
// scripts/raid.sh calls it after a run; it is also handy on its own against a
// running pipeline. With -chaos kill|store it checks what a scripts/chaos.sh
// fault-injection run of decide left behind (chaos.go, chaoscheck.go).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "raidstat:", err)
		os.Exit(1)
	}
}

// StreamStats summarises one stream.
type StreamStats struct {
	Entries    int64   `json:"entries"`
	UniqueIDs  int64   `json:"unique_ids"`
	Duplicates int64   `json:"duplicates"`
	Malformed  int64   `json:"malformed"`
	P50Ms      float64 `json:"p50_ms"`
	P99Ms      float64 `json:"p99_ms"`
	MaxMs      float64 `json:"max_ms"`
	FirstMs    int64   `json:"first_ms"` // time part of the first entry id
	LastMs     int64   `json:"last_ms"`  // time part of the last entry id
	// Failures counts entries by a non-empty failure_reason (decisions
	// that failed open).
	Failures map[string]int64 `json:"failures,omitempty"`
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("raidstat", flag.ContinueOnError)
	addr := fs.String("redis", "127.0.0.1:6379", "Redis host:port")
	chat := fs.String("chat", "streamsafe:chat", "chat stream key (empty to skip)")
	decisions := fs.String("decisions", "", "decision stream key (empty to skip)")
	metrics := fs.String("metrics", "", "comma-separated name=URL list of /metrics endpoints to scrape")
	summary := fs.Bool("summary", false, "print a load-test summary (readable lines, then one JSON line) instead of raw stats")
	simURL := fs.String("sim", "", "with -summary: the simulator's control URL (GET /stats)")
	ingestURL := fs.String("ingest", "", "with -summary: ingest's /metrics URL")
	decideURL := fs.String("decide", "", "with -summary: decide's /metrics URL (its own read-to-written latency histogram)")
	pids := fs.String("pids", "", "with -summary: comma-separated name=pid list whose peak RSS to report")
	sinkDir := fs.String("sink-dir", "", "the sink's data directory: with -summary, report sunk (decision rows in files) and compare them with the decisions stream; with -sink-check, check every dataset")
	sinkCheck := fs.Bool("sink-check", false, "compare the decisions, mod and executions streams with the sink's files under -sink-dir exactly (each entry once, or dead-lettered); prints JSON, exits 1 on a mismatch")
	modKey := fs.String("mod", "streamsafe:mod", "with -sink-check: mod stream key")
	chaos := addChaosFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	rdb := redis.NewClient(&redis.Options{Addr: *addr, ReadTimeout: 30 * time.Second})
	defer rdb.Close()
	if *sinkCheck {
		return runSinkCheck(ctx, rdb, *sinkDir, map[string]string{
			"decisions": *decisions, "mod": *modKey, "executions": *chaos.executions}, *chaos.deadLetter, out)
	}
	if *summary {
		return runSummary(ctx, rdb, *chat, *decisions, *simURL, *ingestURL, *decideURL, *pids, *sinkDir, *chaos.deadLetter, out)
	}
	if *chaos.scenario != "" {
		return runChaos(ctx, rdb, *chat, *decisions, *simURL, chaos, out)
	}

	res := map[string]any{}
	if *chat != "" {
		s, err := scan(ctx, rdb, *chat, "msg_id", chatEntry)
		if err != nil {
			return err
		}
		res["chat"] = s
	}
	if *decisions != "" {
		s, err := scan(ctx, rdb, *decisions, "msg_id", decisionEntry)
		if err != nil {
			return err
		}
		res["decisions"] = s
	}
	if *metrics != "" {
		m := map[string]map[string]float64{}
		for _, kv := range strings.Split(*metrics, ",") {
			name, url, ok := strings.Cut(kv, "=")
			if !ok {
				return fmt.Errorf("parse -metrics %q: want name=URL", kv)
			}
			vals, err := scrape(ctx, url)
			if err != nil {
				return err
			}
			m[name] = vals
		}
		res["metrics"] = m
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func str(v any) string {
	switch s := v.(type) {
	case string:
		return s
	case []byte:
		return string(s)
	}
	return ""
}

// scan reads the whole stream in pages and computes StreamStats; inspect
// returns an entry's latency in milliseconds and failure reason.
func scan(ctx context.Context, rdb *redis.Client, key, idField string, inspect func(entryMs int64, v map[string]any) entryInfo) (StreamStats, error) {
	var st StreamStats
	seen := make(map[uint64]struct{}, 1<<16)
	var lats []float64
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, key, start, "+", 10000).Result()
		if err != nil {
			return st, fmt.Errorf("xrange %s: %w", key, err)
		}
		for _, m := range msgs {
			st.Entries++
			ms, _, _ := strings.Cut(m.ID, "-")
			entryMs, _ := strconv.ParseInt(ms, 10, 64)
			if st.FirstMs == 0 {
				st.FirstMs = entryMs
			}
			st.LastMs = entryMs
			id := str(m.Values[idField])
			if id == "" {
				st.Malformed++
				continue
			}
			h := fnv.New64a()
			_, _ = h.Write([]byte(id))
			if _, dup := seen[h.Sum64()]; dup {
				st.Duplicates++
			} else {
				seen[h.Sum64()] = struct{}{}
			}
			info := inspect(entryMs, m.Values)
			if info.hasLat {
				lats = append(lats, info.latMs)
			}
			if r := info.failure; r != "" {
				if st.Failures == nil {
					st.Failures = map[string]int64{}
				}
				st.Failures[r]++
			}
		}
		if len(msgs) < 10000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	st.UniqueIDs = int64(len(seen))
	if len(lats) > 0 {
		slices.Sort(lats)
		q := func(p float64) float64 { return lats[min(len(lats)-1, int(p*float64(len(lats))))] }
		st.P50Ms, st.P99Ms, st.MaxMs = q(0.50), q(0.99), lats[len(lats)-1]
	}
	return st, nil
}

// scrape fetches a Prometheus text endpoint and returns counter and gauge
// values keyed "name{label="v",...}" (labels sorted) and bare "name" for sums.
func scrape(ctx context.Context, url string) (map[string]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("parse metrics from %s: %w", url, err)
	}
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "streamsafe_") && name != "process_resident_memory_bytes" {
			continue
		}
		for _, m := range f.Metric {
			var v, hsum float64
			switch {
			case m.Counter != nil:
				v = m.Counter.GetValue()
			case m.Gauge != nil:
				v = m.Gauge.GetValue()
			case m.Histogram != nil:
				v, hsum = float64(m.Histogram.GetSampleCount()), m.Histogram.GetSampleSum()
				for _, b := range m.Histogram.GetBucket() {
					out[name+"_bucket{le="+strconv.Quote(strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64))+"}"] += float64(b.GetCumulativeCount())
				}
			default:
				continue
			}
			var labels []string
			for _, l := range m.Label {
				labels = append(labels, l.GetName()+"="+strconv.Quote(l.GetValue()))
			}
			lp := ""
			if len(labels) > 0 {
				slices.Sort(labels)
				lp = "{" + strings.Join(labels, ",") + "}"
			}
			out[name+lp] = v
			out[name] += v
			if m.Histogram != nil { // its sum too, as <name>_sum[{labels}]
				out[name+"_sum"+lp] = hsum
				out[name+"_sum"] += hsum
			}
		}
	}
	return out, nil
}

func runSummary(ctx context.Context, rdb *redis.Client, chatKey, decisionsKey, simURL, ingestURL, decideURL, pids, sinkDir, deadLetter string, out io.Writer) error {
	if simURL == "" || ingestURL == "" {
		return fmt.Errorf("-summary needs -sim and -ingest")
	}
	var sim simStats
	if err := getJSON(ctx, strings.TrimSuffix(simURL, "/")+"/stats", &sim); err != nil {
		return err
	}
	ingest, err := scrape(ctx, ingestURL)
	if err != nil {
		return err
	}
	// Peak RSS is read before the slow stream scan so it reflects the run.
	rss, cpu := map[string]float64{}, map[string]float64{}
	if pids != "" {
		for _, kv := range strings.Split(pids, ",") {
			name, p, ok := strings.Cut(kv, "=")
			pid, err := strconv.Atoi(p)
			if !ok || err != nil {
				return fmt.Errorf("parse -pids %q: want name=pid", kv)
			}
			mb, err := peakRSSMB(pid)
			if err != nil {
				return err
			}
			rss[name] = mb
			if cpu[name], err = cpuSeconds(pid); err != nil {
				return err
			}
		}
	}
	chat, err := scan(ctx, rdb, chatKey, "msg_id", chatEntry)
	if err != nil {
		return err
	}
	var dec *StreamStats
	if decisionsKey != "" {
		d, err := scan(ctx, rdb, decisionsKey, "msg_id", decisionEntry)
		if err != nil {
			return err
		}
		dec = &d
	}
	sum := summarize(sim, ingest, chat, dec, rss, cpu)
	if decideURL != "" {
		dm, err := scrape(ctx, decideURL)
		if err != nil {
			return err
		}
		sum.DecideHist = decideHistogram(dm)
		if h := sum.DecideHist; h != nil {
			h.ChatBatchMean = chatBatchMean(dm, chatKey)
		}
	}
	if sinkDir != "" && decisionsKey != "" {
		ss, err := checkSink(ctx, rdb, decisionsKey, deadLetter, "sink", filepath.Join(sinkDir, "decisions"))
		if err != nil {
			return err
		}
		sum.Sink = &ss
		sunk := ss.Rows
		sum.Sunk = &sunk
	}
	return printSummary(out, sum)
}

// runSinkCheck implements -sink-check.
func runSinkCheck(ctx context.Context, rdb *redis.Client, dir string, keys map[string]string, deadLetter string, out io.Writer) error {
	if dir == "" {
		return errors.New("-sink-check needs -sink-dir")
	}
	res := map[string]SinkStats{}
	ok := true
	for ds, key := range keys {
		if key == "" {
			continue
		}
		s, err := checkSink(ctx, rdb, key, deadLetter, "sink", filepath.Join(dir, ds))
		if err != nil {
			return err
		}
		res[ds] = s
		ok = ok && s.OK()
	}
	b, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, string(b))
	if !ok {
		return errors.New("the sink's files do not match the streams")
	}
	return nil
}

// entryInfo is what scan takes from one entry besides its id.
type entryInfo struct {
	latMs   float64
	hasLat  bool   // latMs is set
	failure string // failure_reason of a decision ("" for none)
}

// chatEntry is a chat entry's latency (chatLatency).
func chatEntry(entryMs int64, v map[string]any) entryInfo {
	l, ok := chatLatency(entryMs, v)
	return entryInfo{latMs: l, hasLat: ok}
}

// decisionEntry is a decision entry's latency (decisionLatency) and
// failure_reason.
func decisionEntry(entryMs int64, v map[string]any) entryInfo {
	readAtUs, failure := decisionFields(v)
	l, ok := decisionLatency(entryMs, readAtUs)
	return entryInfo{latMs: l, hasLat: ok, failure: failure}
}

// Positions of read_at_us and failure_reason in decision schema 2's groups.
var (
	readAtPos  = slices.Index(event.DecisionTimesNames[:], event.FieldReadAtUs)
	failurePos = slices.Index(event.DecisionDecisionNames[:], event.FieldFailureReason)
)

// decisionFields reads read_at_us (0 when absent) and failure_reason from
// a decisions entry without decoding all of it: schema 2 keeps them in the
// times and decision groups, schema 1 in fields of their own.
func decisionFields(v map[string]any) (readAtUs int64, failure string) {
	if str(v[event.FieldSchemaVersion]) == event.DecisionSchemaVersion1 {
		r, _ := strconv.ParseInt(str(v[event.FieldReadAtUs]), 10, 64)
		return r, str(v[event.FieldFailureReason])
	}
	r, _ := strconv.ParseInt(nth(str(v[event.FieldTimes]), readAtPos), 10, 64)
	return r, nth(str(v[event.FieldDecision]), failurePos)
}

// nth returns the n-th (0-based) comma-separated value of csv, "" when it
// has fewer.
func nth(csv string, n int) string {
	for range n {
		_, csv, _ = strings.Cut(csv, ",")
	}
	s, _, _ := strings.Cut(csv, ",")
	return s
}

// chatLatency is simulator send (tmi_sent_ts, ms) to stream entry (entry id, ms).
// tmi_sent_ts is the first value of the times field (chat schema 2) or a
// field of its own (schema 1).
func chatLatency(entryMs int64, v map[string]any) (float64, bool) {
	sent := str(v[event.FieldTmiSentTs])
	if times, ok := v[event.FieldTimes]; ok {
		sent, _, _ = strings.Cut(str(times), ",")
	}
	ts, err := strconv.ParseInt(sent, 10, 64)
	if err != nil || ts <= 0 {
		return 0, false
	}
	return float64(entryMs - ts), true
}

// decisionLatency is read from the chat stream (read_at_us r, as logged by
// decide) to decision written (the decision entry's id). Entry ids have
// millisecond resolution, so the end of the entry's millisecond is used: an
// upper bound, never an underestimate.
func decisionLatency(entryMs, r int64) (float64, bool) {
	if r <= 0 {
		return 0, false
	}
	return float64((entryMs+1)*1000-r) / 1000, true
}
