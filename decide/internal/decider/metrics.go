package decider

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamsafe-rl/streamsafe/decide/internal/clamp"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Namespace prefixes every decide metric.
const Namespace = "streamsafe_decide"

// Latency stages of the stage_duration_seconds histogram.
const (
	StageDecode    = "decode"     // DecodeChat, per message
	StageFeatures  = "features"   // ComputeMessage, per message
	StageStore     = "store"      // the batch's feature-store round trip
	StageStoreWait = "store_wait" // the batch's wait for a feature-store slot (Config.StoreConcurrency)
	StageScore     = "score"      // Build + Score + Decide, per message
	StageClamp     = "clamp"      // clamp + exploration, per message
	StageWrite     = "write"      // the batch's MULTI{XADD...; XACK}EXEC
	StageSys       = "sys"        // the batch's system-action update of the store
)

// Indexes of Metrics.stage, in the order of stageNames.
const (
	stageDecode = iota
	stageFeatures
	stageStore
	stageStoreWait
	stageScore
	stageClamp
	stageWrite
	stageSys
	numStages
)

var stageNames = [numStages]string{StageDecode, StageFeatures, StageStore, StageStoreWait, StageScore, StageClamp, StageWrite, StageSys}

// Metrics are the decision pipeline's metrics.
type Metrics struct {
	stage          [numStages]prometheus.Observer // stages, resolved per label once
	decisions      *prometheus.CounterVec         // action, path
	failOpen       *prometheus.CounterVec         // reason
	clampRules     *prometheus.CounterVec         // rule
	latency        *prometheus.HistogramVec       // read -> written
	eventLatency   prometheus.Histogram           // tmi-sent -> decided
	stages         *prometheus.HistogramVec       // stage
	overBudget     prometheus.Counter
	execDropped    prometheus.Counter
	writeErrors    prometheus.Counter
	lost           prometheus.Counter
	sysErrors      prometheus.Counter
	sysPending     prometheus.Gauge
	modEvents      *prometheus.CounterVec // kind
	modErrors      prometheus.Counter
	lastDecisionTs prometheus.Gauge
}

// latencyBuckets span 0.5 ms to 10 s, finer around the 5 ms budget so
// a p99 near it is read from neighbouring bounds, not interpolated over
// 5-10 ms.
var latencyBuckets = []float64{.0005, .001, .002, .003, .004, .005, .006, .0075, .01, .02, .05, .1, .2, .5, 1, 2, 5, 10}

// NewMetrics creates and registers the metrics with reg (nil: unregistered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "decisions_total",
			Help: "Decisions written, by final action (IGNORE, WARN, DELETE, TIMEOUT_<s>) and decision path."}, []string{"action", "path"}),
		failOpen: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "fail_open_total",
			Help: "Decisions forced to IGNORE, by failure reason (bad_input, feature_store_timeout, feature_store_error)."}, []string{"reason"}),
		clampRules: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "clamp_rules_total",
			Help: "Clamp rules that changed a requested action, by rule."}, []string{"rule"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "decision_latency_seconds",
			Help:    "From the XREADGROUP that returned a message to its decision being written (MULTI/EXEC done).",
			Buckets: latencyBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100}, []string{"path"}),
		eventLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: Namespace, Name: "event_to_decision_seconds",
			Help:    "From Twitch's tmi-sent-ts of a message to its decision (includes ingest and queueing; clock skew applies).",
			Buckets: latencyBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 100}),
		stages: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: Namespace, Name: "stage_duration_seconds",
			Help:    "Time spent per stage: decode, features, score, clamp per message; store, store_wait, write, sys per batch.",
			Buckets: []float64{.000001, .000005, .00001, .00005, .0001, .0005, .001, .005, .01, .02, .05, .1, .5}}, []string{"stage"}),
		overBudget: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "over_budget_total",
			Help: "Decisions whose path had used up the latency budget before the clamp ran."}),
		execDropped: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "executor_dropped_total",
			Help: "Non-IGNORE decisions the executor refused (queue full or closed)."}),
		writeErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "write_errors_total",
			Help: "Failed decision writes (MULTI/EXEC); the batch is retried."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "decisions_lost_total",
			Help: "Decisions whose XADD failed inside a transaction whose XACK succeeded (the decisions key is not a stream)."}),
		sysErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "sys_update_errors_total",
			Help: "Failed feature-store updates with executed actions (kept and retried with the next batch)."}),
		sysPending: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "sys_updates_pending",
			Help: "Executed actions waiting to be recorded in the feature store."}),
		modEvents: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: "mod_events_total",
			Help: "Mod-stream events applied to the feature store, by kind."}, []string{"kind"}),
		modErrors: prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: "mod_errors_total",
			Help: "Failed feature-store updates with mod events (the batch is retried)."}),
		lastDecisionTs: prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "last_decision_timestamp_seconds",
			Help: "Unix time of the last decision written."}),
	}
	paths := []event.DecisionPath{event.PathDeterministic, event.PathFailOpen, event.PathExplore}
	for _, a := range event.DiscreteActions {
		for _, p := range paths {
			m.decisions.WithLabelValues(a.String(), string(p))
		}
	}
	for _, p := range paths {
		m.latency.WithLabelValues(string(p))
	}
	for _, k := range []event.ModKind{event.ModTimeout, event.ModBan, event.ModClear, event.ModDelete, event.ModUnban,
		event.ModUntimeout, event.ModWarn, event.ModRaid, event.ModRoomState} {
		m.modEvents.WithLabelValues(string(k))
	}
	for _, r := range []string{event.FailureBadInput, event.FailureFeatureStoreTimeout, event.FailureFeatureStoreError} {
		m.failOpen.WithLabelValues(r)
	}
	var names [32]string
	for _, r := range clamp.AllRules.Names(names[:0]) {
		m.clampRules.WithLabelValues(r)
	}
	for i, s := range stageNames {
		m.stage[i] = m.stages.WithLabelValues(s)
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.failOpen, m.clampRules, m.latency, m.eventLatency, m.stages, m.overBudget,
			m.execDropped, m.writeErrors, m.lost, m.sysErrors, m.sysPending, m.modEvents, m.modErrors, m.lastDecisionTs)
	}
	return m
}
