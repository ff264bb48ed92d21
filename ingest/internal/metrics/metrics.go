// Package metrics defines every Prometheus metric of the ingest service
// (names prefixed streamsafe_ingest_) and the line accounting they implement.
//
// Every line read from Twitch ends in exactly one accounting term, per kind
// (chat, mod, control):
//
//	received = filtered + oversize + parse_errors + rate_limited + duplicates
//	         + published + dropped + in_flight
//
// in_flight is a gauge (lines read but not yet resolved); it is 0 once the
// pipeline is idle, so after a drain the counters alone balance. The label
// sets are fixed and pre-initialised to 0: no channel or user id is ever a
// label value. docs/metrics.md documents each metric.
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

// Namespace prefixes every metric name.
const Namespace = "streamsafe_ingest"

// Kind is the stream kind of a line, decided from its IRC command word.
type Kind uint8

// Kinds of lines.
const (
	Chat    Kind = iota // PRIVMSG: goes to the chat stream
	Mod                 // CLEARCHAT, CLEARMSG, USERNOTICE, ROOMSTATE: mod stream
	Control             // everything else: protocol and unknown lines
	NumKinds
)

var kindNames = [NumKinds]string{Chat: "chat", Mod: "mod", Control: "control"}

// String returns "chat", "mod" or "control".
func (k Kind) String() string {
	if k < NumKinds {
		return kindNames[k]
	}
	return "control"
}

// KindOf maps a command to the kind of stream its lines feed.
func KindOf(c irc.Command) Kind {
	switch c {
	case irc.CmdPrivmsg:
		return Chat
	case irc.CmdClearChat, irc.CmdClearMsg, irc.CmdUserNotice, irc.CmdRoomState:
		return Mod
	}
	return Control
}

// DropReason is why a line was dropped outside the other accounting terms.
type DropReason uint8

// Drop reasons (label reason of lines_dropped_total).
const (
	DropUnknown   DropReason = iota // unknown command word (also garbage lines)
	DropTruncated                   // the connection ended in the middle of the line
	DropShutdown                    // still queued when the shutdown deadline passed
	DropRejected                    // Redis refused the XADD with a non-transient error
	NumDropReasons
)

var dropNames = [NumDropReasons]string{
	DropUnknown: "unknown_command", DropTruncated: "truncated",
	DropShutdown: "shutdown", DropRejected: "rejected",
}

func (r DropReason) String() string { return dropNames[r] }

// BadInput is a kind of malformed input, counted for diagnosis. These
// counters overlap the accounting terms (an oversize line is also counted in
// lines_oversize_total) and are not part of the equation.
type BadInput uint8

// Bad input reasons (label reason of bad_input_total).
const (
	BadOversize    BadInput = iota // line longer than the limit
	BadTruncated                   // connection ended mid-line
	BadMalformed                   // chat/mod line that failed to parse
	BadInvalidUTF8                 // chat text or display name not valid UTF-8 (published as is)
	BadEmptyFrame                  // WebSocket frame without any line
	NumBadInputs
)

var badNames = [NumBadInputs]string{
	BadOversize: "oversize", BadTruncated: "truncated", BadMalformed: "malformed",
	BadInvalidUTF8: "invalid_utf8", BadEmptyFrame: "empty_frame",
}

func (b BadInput) String() string { return badNames[b] }

// Reconnect is why the client replaced its connection.
type Reconnect uint8

// Reconnect reasons (label reason of reconnects_total).
const (
	ReconnectServer      Reconnect = iota // the server sent RECONNECT (make-before-break)
	ReconnectError                        // read or write error
	ReconnectEOF                          // the server closed the connection
	ReconnectPingTimeout                  // no PONG to our PING in time
	NumReconnects
)

var reconnectNames = [NumReconnects]string{
	ReconnectServer: "server_reconnect", ReconnectError: "error",
	ReconnectEOF: "eof", ReconnectPingTimeout: "ping_timeout",
}

func (r Reconnect) String() string { return reconnectNames[r] }

// Connection states (value of connection_state).
const (
	StateDisconnected = 0 // no connection
	StateConnecting   = 1 // dialling or waiting for the welcome (001)
	StateConnected    = 2 // logged in, joining channels
	StateJoined       = 3 // logged in and every channel joined
)

// numCommands bounds the irc.Command values used as array indexes.
const numCommands = 32

// Metrics holds every collector of the service, with label values resolved
// up front so the hot path does no map lookups.
type Metrics struct {
	Received    [NumKinds]prometheus.Counter
	Filtered    [NumKinds][numCommands]prometheus.Counter
	Oversize    [NumKinds]prometheus.Counter
	ParseErrors [NumKinds]prometheus.Counter
	RateLimited [NumKinds]prometheus.Counter
	Duplicates  [NumKinds]prometheus.Counter
	Published   [NumKinds]prometheus.Counter
	Dropped     [NumKinds][NumDropReasons]prometheus.Counter
	InFlight    [NumKinds]prometheus.Gauge

	BadInput [NumBadInputs]prometheus.Counter

	Reconnects        [NumReconnects]prometheus.Counter
	ConnectAttempts   [2]prometheus.Counter // index 0 ok, 1 error
	ConnectionState   prometheus.Gauge
	ConnectionsOpen   prometheus.Gauge
	ChannelsJoined    prometheus.Gauge
	PingsFromServer   prometheus.Counter
	PingsFromClient   prometheus.Counter
	RateLimitOK       prometheus.Counter
	RateLimitErrors   prometheus.Counter
	RateLimitFailOpen prometheus.Counter

	PublishDuration  prometheus.Histogram
	PublishBatchSize prometheus.Histogram
	PublishBatches   [3]prometheus.Counter // ok, partial, error
	PublishRetries   prometheus.Counter
	LastPublished    [NumKinds]prometheus.Gauge

	queueCap *prometheus.GaugeVec
	reg      prometheus.Registerer
}

// Publish batch results, indexes of PublishBatches.
const (
	BatchOK      = 0 // every entry accepted
	BatchPartial = 1 // some entries failed and were retried or dropped
	BatchError   = 2 // the whole pipeline failed
)

// filteredCommands are the commands counted in lines_filtered_total; their
// series are pre-initialised.
var filteredCommands = []irc.Command{
	irc.CmdPing, irc.CmdPong, irc.CmdJoin, irc.CmdPart, irc.CmdNames, irc.CmdWelcome,
	irc.CmdCap, irc.CmdGlobalUserState, irc.CmdUserState, irc.CmdReconnect,
	irc.CmdNotice, irc.CmdWhisper, irc.CmdUserNotice,
}

// New creates the collectors and registers them on reg.
func New(reg prometheus.Registerer) *Metrics {
	m := &Metrics{reg: reg}
	counterVec := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	gaugeVec := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		reg.MustRegister(v)
		return v
	}
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(c)
		return c
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help})
		reg.MustRegister(g)
		return g
	}

	received := counterVec("lines_received_total", "IRC lines read from Twitch, by stream kind.", "kind")
	filtered := counterVec("lines_filtered_total", "Lines not published because of their command (protocol lines, non-raid USERNOTICE), by kind and command.", "kind", "command")
	oversize := counterVec("lines_oversize_total", "Lines longer than INGEST_MAX_LINE_BYTES, discarded while reading.", "kind")
	parseErr := counterVec("parse_errors_total", "Chat or mod lines that failed to parse.", "kind")
	limited := counterVec("rate_limited_total", "Chat messages dropped by the per-channel rate limit.", "kind")
	dups := counterVec("duplicates_total", "Lines dropped as duplicates (same message id seen on another connection during a reconnect overlap).", "kind")
	published := counterVec("messages_published_total", "Events accepted by Redis (XADD succeeded), by stream kind.", "kind")
	dropped := counterVec("lines_dropped_total", "Lines dropped for other reasons, by kind and reason.", "kind", "reason")
	inflight := gaugeVec("lines_in_flight", "Lines read but not yet published or dropped.", "kind")
	for k := Kind(0); k < NumKinds; k++ {
		ks := k.String()
		m.Received[k] = received.WithLabelValues(ks)
		m.Oversize[k] = oversize.WithLabelValues(ks)
		m.ParseErrors[k] = parseErr.WithLabelValues(ks)
		m.RateLimited[k] = limited.WithLabelValues(ks)
		m.Duplicates[k] = dups.WithLabelValues(ks)
		m.Published[k] = published.WithLabelValues(ks)
		m.InFlight[k] = inflight.WithLabelValues(ks)
		for r := DropReason(0); r < NumDropReasons; r++ {
			m.Dropped[k][r] = dropped.WithLabelValues(ks, r.String())
		}
	}
	for _, c := range filteredCommands {
		k := KindOf(c)
		m.Filtered[k][c] = filtered.WithLabelValues(k.String(), c.String())
	}

	bad := counterVec("bad_input_total", "Malformed input seen, by reason (diagnostic; overlaps the accounting counters).", "reason")
	for b := BadInput(0); b < NumBadInputs; b++ {
		m.BadInput[b] = bad.WithLabelValues(b.String())
	}

	rec := counterVec("reconnects_total", "Connections replaced, by reason.", "reason")
	for r := Reconnect(0); r < NumReconnects; r++ {
		m.Reconnects[r] = rec.WithLabelValues(r.String())
	}
	att := counterVec("connect_attempts_total", "Connection attempts (dial and WebSocket/TLS handshake), by result.", "result")
	m.ConnectAttempts[0] = att.WithLabelValues("ok")
	m.ConnectAttempts[1] = att.WithLabelValues("error")
	m.ConnectionState = gauge("connection_state", "State of the current Twitch connection: 0 disconnected, 1 connecting, 2 logged in, 3 all channels joined.")
	m.ConnectionsOpen = gauge("connections_open", "Open Twitch connections (2 during a make-before-break reconnect).")
	m.ChannelsJoined = gauge("channels_joined", "Channels joined on the current connection.")
	pings := counterVec("pings_total", "PINGs seen: origin=server (answered with PONG) or client (sent by us on an idle link).", "origin")
	m.PingsFromServer = pings.WithLabelValues("server")
	m.PingsFromClient = pings.WithLabelValues("client")

	rl := counterVec("ratelimit_checks_total", "Rate-limit round trips to Redis (one pipeline per batch), by result.", "result")
	m.RateLimitOK = rl.WithLabelValues("ok")
	m.RateLimitErrors = rl.WithLabelValues("error")
	m.RateLimitFailOpen = counter("ratelimit_fail_open_total", "Chat messages let through unchecked because the rate-limit call failed.")

	m.PublishDuration = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "publish_batch_duration_seconds",
		Help:                           "Duration of one pipelined XADD round trip (one attempt).",
		Buckets:                        []float64{.0002, .0005, .001, .002, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		NativeHistogramBucketFactor:    1.1,
		NativeHistogramMaxBucketNumber: 100,
	})
	reg.MustRegister(m.PublishDuration)
	m.PublishBatchSize = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "publish_batch_size",
		Help:    "Entries per pipelined XADD round trip.",
		Buckets: []float64{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024},
	})
	reg.MustRegister(m.PublishBatchSize)
	pb := counterVec("publish_batches_total", "Pipelined XADD round trips, by result (ok, partial: some entries failed, error: all failed).", "result")
	m.PublishBatches[BatchOK] = pb.WithLabelValues("ok")
	m.PublishBatches[BatchPartial] = pb.WithLabelValues("partial")
	m.PublishBatches[BatchError] = pb.WithLabelValues("error")
	m.PublishRetries = counter("publish_retries_total", "Entries sent again after a failed XADD.")
	last := gaugeVec("last_published_timestamp_seconds", "Unix time of the last successful publish, by kind.", "kind")
	for _, k := range []Kind{Chat, Mod} {
		m.LastPublished[k] = last.WithLabelValues(k.String())
	}

	m.queueCap = gaugeVec("queue_capacity", "Capacity (batches) of a bounded queue between stages.", "stage")
	return m
}

// Queue exports the depth and capacity of a bounded channel between stages.
// length is evaluated at scrape time, so the hot path pays nothing.
func (m *Metrics) Queue(stage string, length func() int, capacity int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: Namespace, Name: "queue_length", Help: "Batches waiting in a bounded queue between stages.",
		ConstLabels: prometheus.Labels{"stage": stage},
	}, func() float64 { return float64(length()) }))
	m.queueCap.WithLabelValues(stage).Set(float64(capacity))
}

// Filter counts a line of kind k not published because of its command c.
func (m *Metrics) Filter(k Kind, c irc.Command) {
	if f := m.Filtered[k][c]; f != nil {
		f.Inc()
		return
	}
	// A command outside filteredCommands: should not happen; keep the
	// equation balanced anyway.
	m.Dropped[k][DropUnknown].Inc()
}

// Accounts is a snapshot of one kind's accounting terms.
type Accounts struct {
	Received, Filtered, Oversize, ParseErrors, RateLimited, Duplicates, Published, Dropped, InFlight float64
}

// Balance returns received minus the sum of all other terms: 0 when every
// line is accounted for.
func (a Accounts) Balance() float64 {
	return a.Received - (a.Filtered + a.Oversize + a.ParseErrors + a.RateLimited + a.Duplicates + a.Published + a.Dropped + a.InFlight)
}

// Accounts reads kind k's counters.
func (m *Metrics) Accounts(k Kind) Accounts {
	a := Accounts{
		Received:    Value(m.Received[k]),
		Oversize:    Value(m.Oversize[k]),
		ParseErrors: Value(m.ParseErrors[k]),
		RateLimited: Value(m.RateLimited[k]),
		Duplicates:  Value(m.Duplicates[k]),
		Published:   Value(m.Published[k]),
		InFlight:    Value(m.InFlight[k]),
	}
	for _, c := range m.Filtered[k] {
		if c != nil {
			a.Filtered += Value(c)
		}
	}
	for _, c := range m.Dropped[k] {
		a.Dropped += Value(c)
	}
	return a
}

// Value returns the current value of a counter or gauge (0 for other
// collectors). It is meant for tests and snapshots, not the hot path.
func Value(c prometheus.Metric) float64 {
	var d dto.Metric
	if err := c.Write(&d); err != nil {
		return 0
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	return 0
}
