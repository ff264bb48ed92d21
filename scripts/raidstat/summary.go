package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
)

// simStats is the part of the simulator's GET /stats that a summary needs.
type simStats struct {
	Generated      uint64 `json:"generated"`
	Sent           uint64 `json:"sent"`
	Undelivered    uint64 `json:"undelivered"`
	Dropped        uint64 `json:"dropped"`
	DroppedSlow    uint64 `json:"dropped_slow"`
	LagSkipped     uint64 `json:"lag_skipped"`
	ReconnectsSent uint64 `json:"reconnects_sent"`
	Disconnects    uint64 `json:"disconnects"`
}

// Summary is the one-line JSON result of a load test. Counts are chat
// messages unless named otherwise.
type Summary struct {
	Sent          uint64  `json:"sent"`           // simulator: PRIVMSGs written to at least one ingest connection
	Received      float64 `json:"received"`       // ingest: chat lines read (duplicates from reconnect overlaps included)
	Published     float64 `json:"published"`      // ingest: chat events Redis accepted
	Filtered      float64 `json:"filtered"`       // ingest: chat lines filtered by command (expected 0)
	RateLimited   float64 `json:"rate_limited"`   // ingest: dropped by the per-channel limit
	Duplicates    float64 `json:"duplicates"`     // ingest: second copies during make-before-break overlaps
	ParseErrors   float64 `json:"parse_errors"`   // ingest: chat lines that failed to parse
	Oversize      float64 `json:"oversize"`       // ingest: over-long chat lines
	Dropped       float64 `json:"dropped"`        // ingest: chat lines dropped for other counted reasons
	InFlight      float64 `json:"in_flight"`      // ingest: still unresolved at the end (0 after a drain)
	Lost          float64 `json:"lost"`           // sent minus everything accounted for
	StreamEntries int64   `json:"stream_entries"` // chat stream entries
	StreamDupes   int64   `json:"stream_duplicates"`
	MsgsPerSec    float64 `json:"msgs_per_sec"` // stream entries per second between the first and last entry
	P50Ms         float64 `json:"p50_ms"`       // simulator send (tmi-sent-ts) to stream entry, ms (1 ms resolution)
	P99Ms         float64 `json:"p99_ms"`
	Reconnects    uint64  `json:"reconnects_sent"`
	Disconnects   uint64  `json:"disconnects"`
	SimDropped    uint64  `json:"sim_dropped"` // simulator: addressed to ingest but written to no connection (slow consumer)

	Decided        *int64           `json:"decided,omitempty"`             // decision stream entries
	DecisionDupes  *int64           `json:"decision_duplicates,omitempty"` // msg ids decided twice
	DecideLost     *int64           `json:"decide_lost,omitempty"`         // chat stream entries without a decision
	DecideP50Ms    *float64         `json:"decide_p50_ms,omitempty"`       // read from chat stream to decision written
	DecideP99Ms    *float64         `json:"decide_p99_ms,omitempty"`
	DecidedPerSec  *float64         `json:"decided_per_sec,omitempty"`
	DecideFailOpen *int64           `json:"decide_fail_open,omitempty"` // decisions with a failure_reason (IGNORE, failed open)
	FailOpenBy     map[string]int64 `json:"decide_fail_open_by,omitempty"`
	DecideHist     *DecideHist      `json:"decide_hist,omitempty"` // decide's own read-to-written histogram

	Sunk *int64     `json:"sunk,omitempty"`       // decision rows in the sink's files
	Sink *SinkStats `json:"sink_check,omitempty"` // decisions stream vs the sink's files

	PeakRSSMB map[string]float64 `json:"peak_rss_mb"` // VmHWM per process
	CPUSec    map[string]float64 `json:"cpu_s"`       // user+system CPU seconds per process so far
}

func getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: status %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("decode %s: %w", url, err)
	}
	return nil
}

// peakRSSMB reads VmHWM (peak resident set) of a process from /proc.
func peakRSSMB(pid int) (float64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read rss of pid %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmHWM of pid %d: %w", pid, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmHWM for pid %d", pid)
}

// cpuSeconds returns the user+system CPU time of pid from /proc/<pid>/stat
// (fields 14 and 15, in clock ticks of USER_HZ = 100 on Linux).
func cpuSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read cpu of pid %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(f))
	}
	var ticks float64
	for _, s := range f[11:13] { // fields 14 and 15 (f[0] is field 3)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
		}
		ticks += v
	}
	return ticks / 100, nil
}

func chatMetric(m map[string]float64, name string) float64 {
	return m["streamsafe_ingest_"+name+`{kind="chat"}`]
}

// chatSum sums a metric with extra labels over the chat kind.
func chatSum(m map[string]float64, name string) float64 {
	var v float64
	prefix := "streamsafe_ingest_" + name + "{"
	for k, x := range m {
		if strings.HasPrefix(k, prefix) && strings.Contains(k, `kind="chat"`) {
			v += x
		}
	}
	return v
}

func summarize(sim simStats, ingest map[string]float64, chat StreamStats, decisions *StreamStats, rss, cpu map[string]float64) Summary {
	s := Summary{
		Sent:          sim.Sent,
		Received:      chatMetric(ingest, "lines_received_total"),
		Published:     chatMetric(ingest, "messages_published_total"),
		Filtered:      chatSum(ingest, "lines_filtered_total"),
		RateLimited:   chatMetric(ingest, "rate_limited_total"),
		Duplicates:    chatMetric(ingest, "duplicates_total"),
		ParseErrors:   chatMetric(ingest, "parse_errors_total"),
		Oversize:      chatMetric(ingest, "lines_oversize_total"),
		Dropped:       chatSum(ingest, "lines_dropped_total"),
		InFlight:      chatMetric(ingest, "lines_in_flight"),
		StreamEntries: chat.Entries,
		StreamDupes:   chat.Duplicates,
		P50Ms:         chat.P50Ms,
		P99Ms:         chat.P99Ms,
		Reconnects:    sim.ReconnectsSent,
		Disconnects:   sim.Disconnects,
		SimDropped:    sim.Dropped,
		PeakRSSMB:     rss,
		CPUSec:        cpu,
	}
	// Duplicates are extra copies of messages that were also published, so
	// they are not part of what accounts for a sent message.
	accounted := s.Published + s.Filtered + s.RateLimited + s.ParseErrors + s.Oversize + s.Dropped + s.InFlight
	// A message the simulator addressed to a joined ingest connection but
	// could not write (the connection was closing or too slow to read) is
	// lost by ingest as much as one it read and dropped silently.
	s.Lost = float64(s.Sent+s.SimDropped) - accounted
	// A published message missing from the stream is lost too (the stream
	// must not be trimmed during a load test).
	if missing := s.Published - float64(chat.UniqueIDs); missing > 0 {
		s.Lost += missing
	}
	if span := float64(chat.LastMs-chat.FirstMs) / 1000; span > 0 {
		s.MsgsPerSec = float64(chat.Entries) / span
	}
	if decisions != nil {
		d, dup, lost := decisions.UniqueIDs, decisions.Duplicates, chat.UniqueIDs-decisions.UniqueIDs
		p50, p99 := decisions.P50Ms, decisions.P99Ms
		s.Decided, s.DecisionDupes, s.DecideLost, s.DecideP50Ms, s.DecideP99Ms = &d, &dup, &lost, &p50, &p99
		var failed int64
		for _, n := range decisions.Failures {
			failed += n
		}
		s.DecideFailOpen, s.FailOpenBy = &failed, decisions.Failures
		if span := float64(decisions.LastMs-decisions.FirstMs) / 1000; span > 0 {
			r := float64(decisions.Entries) / span
			s.DecidedPerSec = &r
		}
	}
	return s
}

// DecideHist is what decide's decision_latency_seconds histogram (observed
// when the MULTI/EXEC returns, all paths) says: more exact than the stream
// estimate, which rounds the write up to the next millisecond of the entry
// id, but only as fine as the buckets.
type DecideHist struct {
	Count        float64            `json:"count"`
	Within5ms    float64            `json:"within_5ms"`    // share of decisions written within 5 ms (exact: a bucket bound)
	P99MsApprox  float64            `json:"p99_ms_approx"` // linear inside the bucket holding it
	WithinBounds map[string]float64 `json:"within,omitempty"`
	// ChatBatchMean is the mean number of chat entries per batch
	// (consumer_batch_size): near DECIDE_MIN_BATCH_COUNT while decide
	// keeps up, larger in a backlog.
	ChatBatchMean float64 `json:"chat_batch_mean,omitempty"`
}

const decideBatchSize = "streamsafe_decide_consumer_batch_size"

// chatBatchMean returns the mean size of decide's batches of chatKey (0
// when it reported none).
func chatBatchMean(m map[string]float64, chatKey string) float64 {
	lp := "{stream=" + strconv.Quote(chatKey) + "}"
	if n := m[decideBatchSize+lp]; n > 0 {
		return m[decideBatchSize+"_sum"+lp] / n
	}
	return 0
}

const decideLatency = "streamsafe_decide_decision_latency_seconds"

// decideHistogram reads the latency histogram out of scraped metrics (nil
// when decide exported none).
func decideHistogram(m map[string]float64) *DecideHist {
	n := m[decideLatency]
	if n == 0 {
		return nil
	}
	type bucket struct{ le, cum float64 }
	var bs []bucket
	h := &DecideHist{Count: n, WithinBounds: map[string]float64{}}
	prefix := decideLatency + "_bucket{le="
	for k, v := range m {
		if rest, ok := strings.CutPrefix(k, prefix); ok {
			le, err := strconv.ParseFloat(strings.Trim(strings.TrimSuffix(rest, "}"), `"`), 64)
			if err == nil {
				bs = append(bs, bucket{le, v})
				h.WithinBounds[strconv.FormatFloat(le*1000, 'g', -1, 64)+"ms"] = v / n
			}
		}
	}
	slices.SortFunc(bs, func(a, b bucket) int { return cmp.Compare(a.le, b.le) })
	h.Within5ms = h.WithinBounds["5ms"]
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.cum >= 0.99*n {
			f := 1.0
			if b.cum > below {
				f = (0.99*n - below) / (b.cum - below)
			}
			h.P99MsApprox = (lo + f*(b.le-lo)) * 1000
			break
		}
		lo, below = b.le, b.cum
	}
	return h
}

func printSummary(w io.Writer, s Summary) error {
	fmt.Fprintf(w, "sent %d  received %.0f  published %.0f  duplicates %.0f  rate_limited %.0f  parse_errors %.0f  oversize %.0f  dropped %.0f  in_flight %.0f\n",
		s.Sent, s.Received, s.Published, s.Duplicates, s.RateLimited, s.ParseErrors, s.Oversize, s.Dropped, s.InFlight)
	fmt.Fprintf(w, "stream: %d entries, %d duplicate msg ids, %.0f msgs/s, latency p50 %.0f ms p99 %.0f ms (send -> stream entry)\n",
		s.StreamEntries, s.StreamDupes, s.MsgsPerSec, s.P50Ms, s.P99Ms)
	if s.Decided != nil {
		fmt.Fprintf(w, "decide: %d decided, %d decided twice, %d without decision, p50 %.2f ms p99 %.2f ms (read -> decision written), %d failed open %v\n",
			*s.Decided, *s.DecisionDupes, *s.DecideLost, *s.DecideP50Ms, *s.DecideP99Ms, *s.DecideFailOpen, s.FailOpenBy)
	}
	if h := s.DecideHist; h != nil {
		fmt.Fprintf(w, "decide's own histogram: %.0f decisions, %.2f%% written within 5 ms of the read, p99 about %.2f ms; %.1f chat entries per batch on average\n",
			h.Count, 100*h.Within5ms, h.P99MsApprox, h.ChatBatchMean)
	}
	if s.Sink != nil {
		fmt.Fprintf(w, "sink: %d decision rows in %d files (stream %d entries, %d dead-lettered): %d missing, %d duplicate rows, %d unknown rows, %d pending, %d temporary files\n",
			s.Sink.Rows, s.Sink.Files, s.Sink.StreamEntries, s.Sink.DeadLettered, s.Sink.Missing, s.Sink.Duplicates, s.Sink.Extra, s.Sink.PendingAtEnd, s.Sink.TmpFiles)
	}
	fmt.Fprintf(w, "peak RSS (MB): %v\n", s.PeakRSSMB)
	if len(s.CPUSec) > 0 {
		fmt.Fprintf(w, "CPU (s):")
		for _, k := range slices.Sorted(maps.Keys(s.CPUSec)) {
			fmt.Fprintf(w, " %s %.1f", k, s.CPUSec[k])
		}
		fmt.Fprintln(w)
		// Per message, so runs of different lengths compare. It counts
		// each process's whole life (start, idle polling, drain), so it
		// means most for runs near capacity; the bus Redis's figure
		// includes the XRANGE scans above.
		if s.Published > 0 {
			fmt.Fprintf(w, "CPU per published message (us):")
			var total float64
			for _, k := range slices.Sorted(maps.Keys(s.CPUSec)) {
				us := s.CPUSec[k] * 1e6 / s.Published
				total += us
				fmt.Fprintf(w, " %s %.1f", k, us)
			}
			fmt.Fprintf(w, " total %.1f\n", total)
		}
	}
	fmt.Fprintf(w, "LOST: %.0f\n", s.Lost)
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode summary: %w", err)
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}
