package sinker

import "github.com/prometheus/client_golang/prometheus"

// Namespace prefixes every sink metric.
const Namespace = "streamsafe_sink"

// Skip reasons (label reason of skipped_total).
const (
	SkipCommitted = "committed" // the entry is in a committed file (a crash between rename and XACK)
	SkipBuffered  = "buffered"  // the entry is already buffered (a re-read after a failed batch)
)

// Metrics are the sink's metrics, labelled by stream name.
type Metrics struct {
	rows         *prometheus.CounterVec
	files        *prometheus.CounterVec
	fileBytes    *prometheus.CounterVec
	commitDur    *prometheus.HistogramVec
	commitErrors *prometheus.CounterVec
	rejected     *prometheus.CounterVec
	skipped      *prometheus.CounterVec
	buffered     *prometheus.GaugeVec
	ackErrors    *prometheus.CounterVec
	unacked      *prometheus.GaugeVec
	tmpRemoved   *prometheus.CounterVec
	lastCommit   *prometheus.GaugeVec
}

// NewMetrics registers the sink metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	s := []string{"stream"}
	m := &Metrics{
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rows_total",
			Help: "Rows in committed Parquet files."}, s),
		files: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "files_total",
			Help: "Committed Parquet files."}, s),
		fileBytes: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "file_bytes_total",
			Help: "Bytes of committed Parquet files."}, s),
		commitDur: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "commit_duration_seconds",
			Help:    "Time to write, fsync and rename one file (directory fsync included).",
			Buckets: []float64{.005, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}}, s),
		commitErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "commit_errors_total",
			Help: "Failed file commits (disk full, read-only directory...); the rows stay buffered and are retried."}, s),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "rejected_total",
			Help: "Entries that did not decode or validate, moved to the dead-letter stream."}, s),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "skipped_total",
			Help: "Entries delivered again that are already committed or buffered (reason)."}, []string{"stream", "reason"}),
		buffered: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "buffered_rows",
			Help: "Rows buffered for the next file."}, s),
		ackErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "ack_errors_total",
			Help: "Failed XACKs of committed entries (retried; a restart skips them as committed)."}, s),
		unacked: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "unacked_entries",
			Help: "Committed entries whose XACK has not succeeded yet."}, s),
		tmpRemoved: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "tmp_files_removed_total",
			Help: "Temporary files of interrupted commits removed at start."}, s),
		lastCommit: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_commit_timestamp_seconds",
			Help: "Unix time of the last committed file."}, s),
	}
	reg.MustRegister(m.rows, m.files, m.fileBytes, m.commitDur, m.commitErrors, m.rejected, m.skipped,
		m.buffered, m.ackErrors, m.unacked, m.tmpRemoved, m.lastCommit)
	return m
}

// init creates the series of a stream so they read 0 before anything
// happens.
func (m *Metrics) init(stream string) {
	for _, v := range []*prometheus.CounterVec{m.rows, m.files, m.fileBytes, m.commitErrors, m.rejected, m.ackErrors, m.tmpRemoved} {
		v.WithLabelValues(stream)
	}
	m.skipped.WithLabelValues(stream, SkipCommitted)
	m.skipped.WithLabelValues(stream, SkipBuffered)
	m.buffered.WithLabelValues(stream)
	m.unacked.WithLabelValues(stream)
	m.lastCommit.WithLabelValues(stream)
	m.commitDur.WithLabelValues(stream)
}
