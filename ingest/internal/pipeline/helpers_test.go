package pipeline

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/twitch"
	"github.com/streamsafe-rl/streamsafe/shared/event"
)

func newMetrics() *metrics.Metrics { return metrics.New(prometheus.NewRegistry()) }

// batch builds a reader batch and accounts its lines as the twitch reader
// does (received, in flight).
func batch(m *metrics.Metrics, conn uint32, lines ...string) *twitch.Batch {
	b := twitch.NewBatch(conn, time.UnixMicro(1_700_000_000_000_000))
	for _, l := range lines {
		cmd := irc.CommandOf([]byte(l))
		k := metrics.KindOf(cmd)
		m.Received[k].Inc()
		if k == metrics.Control {
			continue
		}
		b.Add([]byte(l), cmd)
		m.InFlight[k].Inc()
	}
	return b
}

// values returns entry i of ev as the map XREAD would return.
func values(ev *Events, i int) map[string]any {
	e := ev.entries[i]
	m := map[string]any{}
	for j := e.start; j+1 < e.end; j += 2 {
		m[ev.args[j].(string)] = ev.args[j+1]
	}
	return m
}

func decodeChat(t *testing.T, ev *Events, i int) event.Chat {
	t.Helper()
	c, err := event.DecodeChat(values(ev, i))
	if err != nil {
		t.Fatalf("DecodeChat(entry %d): %v", i, err)
	}
	return c
}

func decodeMod(t *testing.T, ev *Events, i int) event.Mod {
	t.Helper()
	d, err := event.DecodeMod(values(ev, i))
	if err != nil {
		t.Fatalf("DecodeMod(entry %d): %v", i, err)
	}
	return d
}

// balanced checks the accounting equation for every kind.
func balanced(t *testing.T, m *metrics.Metrics) {
	t.Helper()
	for k := range metrics.NumKinds {
		if a := m.Accounts(k); a.Balance() != 0 {
			t.Errorf("kind %s: accounting off by %v: %+v", k, a.Balance(), a)
		}
	}
}

func equal[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}
