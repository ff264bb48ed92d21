package dedupe

import (
	"fmt"
	"testing"
	"time"
)

func TestSet_ID(t *testing.T) {
	s := New(3, 0)
	steps := []struct {
		id   string
		want bool
	}{
		{"a", false}, {"a", true}, {"b", false}, {"c", false}, {"b", true},
		{"d", false}, // evicts a
		{"a", false}, // forgotten, so new again (evicts b)
		{"c", true}, {"b", false},
	}
	for i, st := range steps {
		if got := s.ID([]byte(st.id)); got != st.want {
			t.Errorf("step %d: ID(%q) = %v, want %v", i, st.id, got, st.want)
		}
	}
	if got, want := s.Len(), 3; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

func TestSet_Line(t *testing.T) {
	t0 := time.Unix(1000, 0)
	line := []byte("@room-id=1;slow=5 :tmi.twitch.tv ROOMSTATE #c")
	type sighting struct {
		conn  uint32
		after time.Duration
		want  bool
	}
	tests := []struct {
		name  string
		steps []sighting
	}{
		{"same_conn_twice_is_two_events", []sighting{{1, 0, false}, {1, time.Second, false}}},
		{"other_conn_is_a_copy", []sighting{{1, 0, false}, {2, time.Second, true}}},
		{"other_conn_after_window", []sighting{{1, 0, false}, {2, time.Minute, false}}},
		{"kth_copy_matches_kth_event", []sighting{
			{1, 0, false}, {2, 0, true}, // event 1 on both
			{2, 0, false}, {1, 0, true}, // event 2, first seen on conn 2
			{1, 0, false}, // event 3 on conn 1 only (so far)
		}},
		{"third_connection", []sighting{{1, 0, false}, {2, 0, true}, {3, 0, true}, {3, 0, false}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(16, 30*time.Second)
			now := t0
			for i, st := range tt.steps {
				now = now.Add(st.after)
				if got := s.Line(line, st.conn, now); got != st.want {
					t.Errorf("step %d: Line(conn=%d) = %v, want %v", i, st.conn, got, st.want)
				}
			}
		})
	}
}

func TestSet_LineAndIDDoNotCollide(t *testing.T) {
	s := New(16, 0)
	k := []byte("abc")
	s.ID(k)
	if s.Line(k, 9, time.Now()) {
		t.Error("Line after ID with the same bytes reported a duplicate")
	}
}

func TestSet_IDAllocs(t *testing.T) {
	s := New(1024, 0)
	ids := make([][]byte, 4096)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "%08x-0000-4000-8000-%012x", i, i)
	}
	for _, id := range ids { // fill and wrap the ring once
		s.ID(id)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		s.ID(ids[i%len(ids)])
		i++
	})
	if allocs != 0 {
		t.Errorf("ID allocs = %v, want 0", allocs)
	}
}

func BenchmarkSet_ID(b *testing.B) {
	s := New(DefaultCapacity, 0)
	ids := make([][]byte, 1<<16)
	for i := range ids {
		ids[i] = fmt.Appendf(nil, "%08x-0000-4000-8000-%012x", i, i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.ID(ids[i&(len(ids)-1)])
		i++
	}
}

// BenchmarkSet_IDNew is what ingest does for every chat message: a new id,
// so every call inserts into a full set and forgets the oldest key.
func BenchmarkSet_IDNew(b *testing.B) {
	s := New(DefaultCapacity, 0)
	id := []byte("00000000-0000-4000-8000-000000000000")
	next := func(i int) []byte {
		const hex = "0123456789abcdef"
		for k := 0; k < 12; k++ {
			id[len(id)-1-k] = hex[i>>(4*k)&0xf]
		}
		return id
	}
	for i := range DefaultCapacity { // fill the ring
		s.ID(next(i))
	}
	b.ReportAllocs()
	i := DefaultCapacity
	for b.Loop() {
		if s.ID(next(i)) {
			b.Fatal("a new id reported as a duplicate")
		}
		i++
	}
}
