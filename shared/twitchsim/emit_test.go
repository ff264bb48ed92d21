package twitchsim

import (
	"testing"
)

// TestServer_EmitAllocs guards the per-message delivery path (generate,
// fan out to two joined connections, write accounting) against heap
// garbage. No sockets: the queues are drained by hand.
func TestServer_EmitAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Channels = 1
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var conns []*conn
	for id := uint64(1); id <= 2; id++ {
		c := &conn{s: s, id: id, wake: make(chan struct{}, 1), dead: make(chan struct{}), chans: map[string]*chanState{}}
		c.caps.Store(capTags | capCommands)
		s.conns[id] = c
		if _, ok := s.subscribe(c, "simchan0"); !ok {
			t.Fatal("subscribe failed")
		}
		conns = append(conns, c)
	}
	gl := &genLoop{s: s, line: make([]byte, 0, 16<<10)}
	var recs []pendingRec
	step := func() {
		gl.epoch++
		gl.emit(1, 1, nil)
		gl.flushDirty()
		for _, c := range conns {
			c.mu.Lock()
			recs = append(recs[:0], c.qRecs...)
			written := len(c.q)
			c.q, c.qEnds, c.qRecs = c.q[:0], c.qEnds[:0], c.qRecs[:0]
			c.mu.Unlock()
			c.settle(recs, written)
			select {
			case <-c.wake:
			default:
			}
		}
	}
	for range 100 { // warm up buffers and the record pool
		step()
	}
	if allocs := testing.AllocsPerRun(2000, step); allocs != 0 {
		t.Errorf("emit+deliver allocs = %v, want 0", allocs)
	}
	st := s.Stats()
	equal(t, "sent", st.Sent, st.Generated)
	equal(t, "privmsgs written by each conn", conns[0].privmsgsWritten.Load(), st.Generated)
}
