package stream

import (
	"github.com/prometheus/client_golang/prometheus"
)

// ConsumerMetrics are the Prometheus metrics of one service's consumers. One
// instance serves every Consumer of the service; series carry the stream key
// (and group) as labels, which have a handful of values.
type ConsumerMetrics struct {
	batches     *prometheus.CounterVec   // stream, source
	entries     *prometheus.CounterVec   // stream, source
	batchSize   *prometheus.HistogramVec // stream
	deadLetters *prometheus.CounterVec   // stream, reason
	trimmed     *prometheus.CounterVec   // stream
	claimed     *prometheus.CounterVec   // stream
	errors      *prometheus.CounterVec   // stream, op
	lag         *prometheus.GaugeVec     // stream, group
	pending     *prometheus.GaugeVec     // stream, group
	length      *prometheus.GaugeVec     // stream
}

// Operations counted by <namespace>_consumer_errors_total{op}.
const (
	opGroup   = "group"   // XGROUP CREATE
	opRead    = "read"    // XREADGROUP
	opClaim   = "claim"   // XAUTOCLAIM
	opPending = "pending" // XPENDING (delivery counts)
	opAck     = "ack"     // XACK / dead-letter MULTI
	opHandle  = "handle"  // the Handler returned an error
	opInfo    = "info"    // XINFO GROUPS / XLEN poll
)

// NewConsumerMetrics creates the consumer metrics with the name prefix
// namespace (e.g. "streamsafe_decide", giving
// streamsafe_decide_consumer_batches_total) and registers them with reg (nil:
// not registered, for tests).
func NewConsumerMetrics(reg prometheus.Registerer, namespace string) *ConsumerMetrics {
	m := &ConsumerMetrics{
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_batches_total",
			Help: "Batches handed to the handler, by stream and source (new, pending, claimed).",
		}, []string{"stream", "source"}),
		entries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_entries_total",
			Help: "Entries read, by stream and source (new, pending, claimed).",
		}, []string{"stream", "source"}),
		batchSize: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "consumer_batch_size",
			Help:    "Entries per batch handed to the handler.",
			Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000},
		}, []string{"stream"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_dead_letters_total",
			Help: "Entries moved to the dead-letter stream, by source stream and reason (max_deliveries, or the handler's reason prefix).",
		}, []string{"stream", "reason"}),
		trimmed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_trimmed_total",
			Help: "Pending entries whose payload was trimmed from the stream before they were processed (acked and lost).",
		}, []string{"stream"}),
		claimed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_claimed_total",
			Help: "Entries taken over from idle consumers with XAUTOCLAIM.",
		}, []string{"stream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "consumer_errors_total",
			Help: "Failed consumer operations, by stream and op (group, read, claim, pending, ack, handle, info).",
		}, []string{"stream", "op"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "consumer_lag",
			Help: "Entries in the stream not yet delivered to the group (XINFO GROUPS lag; -1 when Redis cannot tell).",
		}, []string{"stream", "group"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "consumer_pending",
			Help: "Entries delivered to the group but not yet acknowledged (XINFO GROUPS pending).",
		}, []string{"stream", "group"}),
		length: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "stream_length",
			Help: "Entries in the stream (XLEN).",
		}, []string{"stream"}),
	}
	if reg != nil {
		reg.MustRegister(m.batches, m.entries, m.batchSize, m.deadLetters, m.trimmed, m.claimed, m.errors, m.lag, m.pending, m.length)
	}
	return m
}

// init pre-creates the label series of one consumer so they read 0, not
// absent, before the first event.
func (m *ConsumerMetrics) init(stream, group string) {
	for _, s := range sourceNames {
		m.batches.WithLabelValues(stream, s)
		m.entries.WithLabelValues(stream, s)
	}
	m.deadLetters.WithLabelValues(stream, ReasonMaxDeliveries)
	m.trimmed.WithLabelValues(stream)
	m.claimed.WithLabelValues(stream)
	for _, op := range []string{opGroup, opRead, opClaim, opPending, opAck, opHandle, opInfo} {
		m.errors.WithLabelValues(stream, op)
	}
	m.lag.WithLabelValues(stream, group)
	m.pending.WithLabelValues(stream, group)
	m.length.WithLabelValues(stream)
}
