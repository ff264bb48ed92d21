// Package dedupe remembers the most recent message keys seen by ingest so
// that a message delivered twice (on the old and the new connection during a
// make-before-break reconnect) is published once.
//
// Keys are hashed to uint64 with hash/maphash and kept in a fixed-size ring
// plus a map; when the ring is full the oldest key is forgotten. Nothing is
// allocated per call once the map has grown to its capacity.
package dedupe

import (
	"hash/maphash"
	"time"
)

// DefaultCapacity is the number of keys remembered when New gets 0.
const DefaultCapacity = 1 << 18

// DefaultLineWindow is how long a line without a message id is remembered
// for cross-connection duplicate detection.
const DefaultLineWindow = 30 * time.Second

// seen is what the set knows about a key. For message ids only presence
// matters. For lines without id it counts sightings per connection for the
// two most recent connections: during a reconnect overlap both deliver the
// same sequence of events, so the k-th copy on one connection is the same
// event as the k-th copy on the other.
type seen struct {
	at     int64 // unix nanoseconds of the last sighting
	conn   [2]uint32
	counts [2]uint32
}

// Set is a bounded set of recently seen keys. It is not safe for concurrent
// use: the ingest parse stage owns it.
type Set struct {
	seed   maphash.Seed
	window int64

	ring []uint64
	next int  // ring slot to overwrite next
	full bool // every ring slot holds a key
	m    map[uint64]seen
}

// New returns a Set remembering capacity keys (DefaultCapacity if <= 0).
// window bounds how old a sighting of a line without id may be to count as
// a duplicate (DefaultLineWindow if <= 0).
func New(capacity int, window time.Duration) *Set {
	if capacity <= 0 {
		capacity = DefaultCapacity
	}
	if window <= 0 {
		window = DefaultLineWindow
	}
	return &Set{
		seed:   maphash.MakeSeed(),
		window: int64(window),
		ring:   make([]uint64, capacity),
		m:      make(map[uint64]seen, capacity),
	}
}

// Len returns the number of remembered keys.
func (s *Set) Len() int { return len(s.m) }

// Cap returns the capacity.
func (s *Set) Cap() int { return len(s.ring) }

// ID records a message id (the IRC `id` tag) and reports whether it was
// already remembered. Ids are unique, so any repeat is a duplicate.
func (s *Set) ID(id []byte) (dup bool) {
	h := maphash.Bytes(s.seed, id)
	if _, ok := s.m[h]; ok {
		return true
	}
	s.add(h, seen{})
	return false
}

// Line records a line that has no message id (CLEARCHAT, CLEARMSG,
// ROOMSTATE), read on connection conn at now, and reports whether it is a
// copy of an event already seen on another connection. The same line twice
// on one connection is two events (a setting toggled back); on two
// connections during a reconnect overlap the k-th copy on each is one event.
// Sightings older than the window are forgotten.
func (s *Set) Line(line []byte, conn uint32, now time.Time) (dup bool) {
	// Domain-separate line hashes from id hashes.
	h := ^maphash.Bytes(s.seed, line)
	t := now.UnixNano()
	prev, ok := s.m[h]
	if !ok {
		s.add(h, seen{at: t, conn: [2]uint32{conn, 0}, counts: [2]uint32{1, 0}})
		return false
	}
	if t-prev.at >= s.window {
		s.m[h] = seen{at: t, conn: [2]uint32{conn, 0}, counts: [2]uint32{1, 0}}
		return false
	}
	i := 0
	switch {
	case prev.conn[0] == conn:
	case prev.conn[1] == conn && prev.counts[1] > 0:
		i = 1
	default:
		// A connection not tracked yet: it replaces the one seen less.
		i = 1
		if prev.counts[1] > 0 && prev.counts[0] < prev.counts[1] {
			i = 0
		}
		prev.conn[i], prev.counts[i] = conn, 0
	}
	prev.counts[i]++
	prev.at = t
	s.m[h] = prev
	return prev.counts[i] <= prev.counts[1-i]
}

func (s *Set) add(h uint64, v seen) {
	if s.full {
		delete(s.m, s.ring[s.next])
	}
	s.ring[s.next] = h
	s.m[h] = v
	s.next++
	if s.next == len(s.ring) {
		s.next = 0
		s.full = true
	}
}
