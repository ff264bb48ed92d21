package stream

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ID is a parsed stream entry ID "<ms>-<seq>".
type ID struct {
	MS  uint64 // milliseconds part: the Unix time in ms when the entry was added
	Seq uint64 // sequence number within that millisecond
}

// ParseID parses an entry ID; a bare "<ms>" has sequence 0.
func ParseID(s string) (ID, error) {
	ms, seq, ok := parseID(s)
	if !ok {
		return ID{}, fmt.Errorf("parse stream id %q: want <ms>-<seq>", s)
	}
	return ID{MS: ms, Seq: seq}, nil
}

// String formats the ID as Redis does.
func (id ID) String() string {
	b := make([]byte, 0, 41)
	b = strconv.AppendUint(b, id.MS, 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, id.Seq, 10))
}

// Compare returns -1, 0 or 1 as id sorts before, equal to or after o.
func (id ID) Compare(o ID) int {
	switch {
	case id.MS != o.MS:
		if id.MS < o.MS {
			return -1
		}
		return 1
	case id.Seq != o.Seq:
		if id.Seq < o.Seq {
			return -1
		}
		return 1
	}
	return 0
}

// Time returns the time in the ID (when the entry was added), in UTC.
func (id ID) Time() time.Time { return time.UnixMilli(int64(id.MS)).UTC() }

// parseID splits a stream ID "<ms>-<seq>" (a bare "<ms>" has seq 0).
func parseID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	ms, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if !found {
		return ms, 0, true
	}
	seq, err = strconv.ParseUint(b, 10, 64)
	return ms, seq, err == nil
}
