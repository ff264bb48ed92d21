package twitchsim

import (
	"testing"
	"time"
)

// emitEnv drives the generator's per-message path by hand: no sockets, two
// fake connections joined to simchan0 whose queues are drained after each
// message.
type emitEnv struct {
	s     *Server
	gl    *genLoop
	conns []*conn
	recs  []pendingRec
}

func newEmitEnv(tb testing.TB, mutate func(*Config)) *emitEnv {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Channels = 1
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	e := &emitEnv{s: s, gl: &genLoop{s: s, line: make([]byte, 0, 16<<10)}}
	for id := uint64(1); id <= 2; id++ {
		c := &conn{s: s, id: id, wake: make(chan struct{}, 1), dead: make(chan struct{}), chans: map[string]*chanState{}}
		c.caps.Store(capTags | capCommands)
		s.conns[id] = c
		if _, ok := s.subscribe(c, "simchan0"); !ok {
			tb.Fatal("subscribe failed")
		}
		e.conns = append(e.conns, c)
	}
	return e
}

// step generates one message, delivers it to both connections and settles
// the accounting.
func (e *emitEnv) step() {
	e.gl.epoch++
	e.gl.emit(1, 1, nil)
	e.gl.flushDirty()
	for _, c := range e.conns {
		c.mu.Lock()
		e.recs = append(e.recs[:0], c.qRecs...)
		written := len(c.q)
		c.q, c.qEnds, c.qRecs = c.q[:0], c.qEnds[:0], c.qRecs[:0]
		c.mu.Unlock()
		c.settle(e.recs, written)
		select {
		case <-c.wake:
		default:
		}
	}
}

// TestServer_EmitAllocs guards the per-message delivery path (generate,
// fan out to two joined connections, write accounting) against heap
// garbage when nothing observes the messages.
func TestServer_EmitAllocs(t *testing.T) {
	e := newEmitEnv(t, nil)
	for range 100 { // warm up buffers and the record pool
		e.step()
	}
	if allocs := testing.AllocsPerRun(2000, e.step); allocs != 0 {
		t.Errorf("emit+deliver allocs = %v, want 0", allocs)
	}
	st := e.s.Stats()
	equal(t, "sent", st.Sent, st.Generated)
	equal(t, "privmsgs written by each conn", e.conns[0].privmsgsWritten.Load(), st.Generated)

	// Removing an observer restores the allocation-free path.
	e.s.SetObserver(func(*TruthRecord) {})
	e.s.SetObserver(nil)
	if allocs := testing.AllocsPerRun(2000, e.step); allocs != 0 {
		t.Errorf("emit+deliver allocs after SetObserver(nil) = %v, want 0", allocs)
	}
}

// TestServer_EmitAllocsObserved bounds what an observer costs per message:
// the message id string, and the text of "@name" replies (SetObserver).
func TestServer_EmitAllocsObserved(t *testing.T) {
	e := newEmitEnv(t, func(c *Config) {
		h, m := DevHelixConfig(), DefaultModeratorsConfig()
		c.Helix, c.Moderators, c.ModeratorTick = &h, &m, 0
	})
	var n int
	e.s.SetObserver(func(rec *TruthRecord) { n += len(rec.MsgID) })
	for range 100 {
		e.step()
	}
	// Let Tick hand back the inbox buffer, so Observe appends in place.
	if err := e.s.Moderators().Tick(t.Context(), time.UnixMilli(1)); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(2000, e.step)
	if allocs < 1 || allocs > 1.2 {
		t.Errorf("emit+deliver allocs with moderators and an observer = %v, want 1 (id) plus rare reply texts", allocs)
	}
	if n != 36*int(e.s.generated.Load()) {
		t.Errorf("observer saw %d id bytes, want 36 per generated message (%d)", n, e.s.generated.Load())
	}
}

// TestServer_SetObserver checks that the observer sees every generated
// message, in order, equal to its ground truth.
func TestServer_SetObserver(t *testing.T) {
	var got []TruthRecord
	s := startServer(t, func(c *Config) {
		c.Rate, c.Count, c.StartPaused = 5000, 200, true
	})
	s.SetObserver(func(rec *TruthRecord) { got = append(got, *rec) })
	s.Resume()
	waitSettled(t, s)
	if len(got) != 200 {
		t.Fatalf("observer saw %d messages, want 200", len(got))
	}
	for i, rec := range got {
		want, ok := s.LookupMessage(rec.MsgID)
		if !ok || rec != want {
			t.Fatalf("observed record %d = %+v, want LookupMessage = %+v (found %t)", i, rec, want, ok)
		}
		if i > 0 && rec.TmiSentTs < got[i-1].TmiSentTs {
			t.Errorf("record %d sent at %d before record %d at %d: not in generation order", i, rec.TmiSentTs, i-1, got[i-1].TmiSentTs)
		}
	}
}

// BenchmarkServer_Emit measures the generation loop per message: without
// observers, with simulated moderators observing (their Tick untimed: it
// runs on its own goroutine), and with the Tick's processing added.
func BenchmarkServer_Emit(b *testing.B) {
	mods := func(c *Config) {
		h, m := DevHelixConfig(), DefaultModeratorsConfig()
		m.MissShare, m.ReverseShare = 0, 0 // judge, but never echo into chat
		c.Helix, c.Moderators, c.ModeratorTick = &h, &m, 0
	}
	for _, bc := range []struct {
		name      string
		mutate    func(*Config)
		timedTick bool
	}{
		{"observer=none", nil, false},
		{"observer=moderators", mods, false},
		{"observer=moderators+tick", mods, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEmitEnv(b, bc.mutate)
			m := e.s.Moderators()
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				e.step()
				if i++; m == nil || i%10000 != 0 {
					continue
				}
				// Messages are stamped 1 ms after the epoch: a Tick now
				// judges and forgets all of them.
				if !bc.timedTick {
					b.StopTimer()
				}
				_ = m.Tick(b.Context(), time.Now())
				if !bc.timedTick {
					b.StartTimer()
				}
			}
		})
	}
}
