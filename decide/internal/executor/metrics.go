package executor

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

const metricPrefix = "streamsafe_decide_executor_"

// numKinds covers event.Ignore..event.Timeout.
const numKinds = int(event.Timeout) + 1

var latencyBuckets = prometheus.ExponentialBuckets(0.001, 2, 16) // 1 ms .. 32.8 s

// poolMetrics are the Pool's metrics; children are resolved up front so the
// hot paths do no label lookups.
type poolMetrics struct {
	results       [numKinds][numStatuses]prometheus.Counter
	latency       [numKinds]prometheus.Observer
	sinceDecision prometheus.Observer

	closedDrops        prometheus.Counter
	resultsWritten     prometheus.Counter
	resultsWriteErrors prometheus.Counter
	resultsLost        prometheus.Counter
}

func newPoolMetrics(reg prometheus.Registerer, queueDepth func() float64, capacity int) (*poolMetrics, error) {
	resultsVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "results_total",
		Help: "Executed (or not executed) actions by action kind and result status.",
	}, []string{"action", "status"})
	latencyVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricPrefix + "latency_seconds",
		Help:    "Time from Submit to the result: queue wait, idempotency check, rate-limit waits, HTTP attempts and retries.",
		Buckets: latencyBuckets,
	}, []string{"action"})
	since := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricPrefix + "decision_to_result_seconds",
		Help:    "Time from the decision (Request.DecidedAt) to the result, for requests that carry DecidedAt.",
		Buckets: latencyBuckets,
	})
	depth := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: metricPrefix + "queue_depth",
		Help: "Requests waiting in the queue.",
	}, queueDepth)
	capGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: metricPrefix + "queue_capacity",
		Help: "Size of the bounded queue (EXECUTOR_QUEUE_SIZE).",
	})
	capGauge.Set(float64(capacity))
	m := &poolMetrics{
		sinceDecision: since,
		closedDrops: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "submit_after_close_total",
			Help: "Requests refused because the executor was closed.",
		}),
		resultsWritten: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "results_written_total",
			Help: "Results written to the executions stream.",
		}),
		resultsWriteErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "results_write_errors_total",
			Help: "Failed pipelined writes to the executions stream.",
		}),
		resultsLost: prometheus.NewCounter(prometheus.CounterOpts{
			Name: metricPrefix + "results_lost_total",
			Help: "Results not written to the executions stream (buffer full or write failed).",
		}),
	}
	for k := range numKinds {
		kind := event.ActionKind(k).String()
		m.latency[k] = latencyVec.WithLabelValues(kind)
		for s := range numStatuses {
			m.results[k][s] = resultsVec.WithLabelValues(kind, s.String())
		}
	}
	if err := register(reg, resultsVec, latencyVec, since, depth, capGauge, m.closedDrops, m.resultsWritten, m.resultsWriteErrors, m.resultsLost); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *poolMetrics) observe(r *Result) {
	k := int(r.Action.Kind)
	if k >= numKinds || r.Status >= numStatuses {
		return
	}
	m.results[k][r.Status].Inc()
	if r.Status != StatusDropped {
		m.latency[k].Observe(r.Latency.Seconds())
	}
}

// Wait buckets of the Helix backend.
const (
	waitChannel = iota // per-channel timeout limiter
	waitGlobal         // global call limiter
	waitHeader         // Ratelimit-Remaining reached 0: wait for Ratelimit-Reset
	wait429            // a 429 answer: wait for Ratelimit-Reset + jitter before retrying
	numWaits
)

var waitNames = [numWaits]string{"channel", "global", "helix_remaining", "helix_429"}

// Retry reasons.
const (
	retry429 = iota
	retry5xx
	retryNetwork
	numRetryReasons
)

var retryNames = [numRetryReasons]string{"429", "5xx", "network"}

// Helix endpoints.
const (
	endpointBan = iota
	endpointDelete
	endpointWarn
	numEndpoints
)

var endpointNames = [numEndpoints]string{"ban", "delete", "warn"}

type helixMetrics struct {
	requests    *prometheus.CounterVec // endpoint, code
	duration    [numEndpoints]prometheus.Observer
	retries     [numKinds][numRetryReasons]prometheus.Counter
	waits       [numWaits]prometheus.Counter
	waitSeconds [numWaits]prometheus.Counter
	remaining   prometheus.Gauge
}

func newHelixMetrics(reg prometheus.Registerer) (*helixMetrics, error) {
	m := &helixMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: metricPrefix + "http_requests_total",
			Help: "Helix HTTP attempts by endpoint and status code (\"error\" when no response arrived).",
		}, []string{"endpoint", "code"}),
		remaining: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: metricPrefix + "ratelimit_remaining",
			Help: "Last Ratelimit-Remaining header seen from Helix.",
		}),
	}
	durVec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricPrefix + "http_request_duration_seconds",
		Help:    "Duration of one Helix HTTP attempt.",
		Buckets: latencyBuckets,
	}, []string{"endpoint"})
	retriesVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "retries_total",
		Help: "Helix attempts repeated, by action kind and reason (429, 5xx, network).",
	}, []string{"action", "reason"})
	waitsVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "ratelimit_waits_total",
		Help: "Times a request waited for a rate limit, by bucket (channel, global, helix_remaining, helix_429).",
	}, []string{"bucket"})
	waitSecVec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricPrefix + "ratelimit_wait_seconds_total",
		Help: "Total time spent waiting for rate limits, by bucket.",
	}, []string{"bucket"})
	for e := range numEndpoints {
		m.duration[e] = durVec.WithLabelValues(endpointNames[e])
	}
	for k := range numKinds {
		for r := range numRetryReasons {
			m.retries[k][r] = retriesVec.WithLabelValues(event.ActionKind(k).String(), retryNames[r])
		}
	}
	for w := range numWaits {
		m.waits[w] = waitsVec.WithLabelValues(waitNames[w])
		m.waitSeconds[w] = waitSecVec.WithLabelValues(waitNames[w])
	}
	if err := register(reg, m.requests, durVec, retriesVec, waitsVec, waitSecVec, m.remaining); err != nil {
		return nil, err
	}
	return m, nil
}

// register registers cs on reg; a nil reg registers nothing.
func register(reg prometheus.Registerer, cs ...prometheus.Collector) error {
	if reg == nil {
		return nil
	}
	var errs []error
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("register executor metrics: %w", err)
	}
	return nil
}
