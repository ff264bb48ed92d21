package filewriter

import (
	"sort"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Range is the [First, Last] entry-ID range of one committed file.
type Range struct {
	First, Last stream.ID
	Path        string
}

// Ranges is a set of committed ranges, sorted by First.
type Ranges struct{ rs []Range }

// Add inserts r, keeping the set sorted.
func (s *Ranges) Add(r Range) {
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].First.Compare(r.First) > 0 })
	s.rs = append(s.rs, Range{})
	copy(s.rs[i+1:], s.rs[i:])
	s.rs[i] = r
}

// Contains reports whether id lies within a committed range.
func (s *Ranges) Contains(id stream.ID) bool {
	// The last range starting at or before id.
	i := sort.Search(len(s.rs), func(i int) bool { return s.rs[i].First.Compare(id) > 0 }) - 1
	return i >= 0 && id.Compare(s.rs[i].Last) <= 0
}

// Len returns the number of ranges.
func (s *Ranges) Len() int { return len(s.rs) }

// All returns the ranges in order (do not modify).
func (s *Ranges) All() []Range { return s.rs }

// Max returns the largest Last of all ranges (zero ID when empty).
func (s *Ranges) Max() stream.ID {
	var m stream.ID
	for _, r := range s.rs {
		if r.Last.Compare(m) > 0 {
			m = r.Last
		}
	}
	return m
}
