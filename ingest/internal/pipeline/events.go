package pipeline

import (
	"sync"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
)

// maxEventsPerBatch bounds how many entries the parser coalesces into one
// Events batch.
const maxEventsPerBatch = 512

// entry is one stream entry of an Events batch: its field/value pairs are
// args[start:end].
type entry struct {
	kind       metrics.Kind // Chat or Mod
	channel    string       // channel login (rate-limit key)
	start, end int
	limited    bool // dropped by the rate limiter
}

// Events is a batch of encoded stream entries passed between stages.
// Batches are pooled; the writer releases them once published.
type Events struct {
	entries []entry
	args    []any
}

var eventsPool = sync.Pool{New: func() any {
	return &Events{entries: make([]entry, 0, 64), args: make([]any, 0, 64*48)}
}}

func newEvents() *Events { return eventsPool.Get().(*Events) }

// Len returns the number of entries, including rate-limited ones.
func (e *Events) Len() int { return len(e.entries) }

func (e *Events) release() {
	e.reset()
	eventsPool.Put(e)
}

func (e *Events) reset() {
	clear(e.args) // drop references to the strings
	e.entries, e.args = e.entries[:0], e.args[:0]
}

// dropAll accounts every live entry of e as dropped for reason r and
// releases e.
func (e *Events) dropAll(m *metrics.Metrics, r metrics.DropReason) {
	for _, en := range e.entries {
		if !en.limited {
			m.InFlight[en.kind].Dec()
			m.Dropped[en.kind][r].Inc()
		}
	}
	e.release()
}
