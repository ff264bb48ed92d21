package filewriter

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// File name parts.
const (
	partPrefix = "part-"
	partSuffix = ".parquet"
	tmpPrefix  = ".part-"
	tmpSuffix  = ".parquet.tmp"
)

// Partition is the dt/hour directory of an entry ID's time.
type Partition struct {
	Date string // YYYY-MM-DD (UTC)
	Hour int    // 0..23 (UTC)
}

// PartitionOf returns the partition of id (by the time in the ID).
func PartitionOf(id stream.ID) Partition {
	t := id.Time()
	return Partition{Date: t.Format(time.DateOnly), Hour: t.Hour()}
}

// Dir returns the partition's directory under a stream's directory.
func (p Partition) Dir(streamDir string) string {
	return filepath.Join(streamDir, "dt="+p.Date, fmt.Sprintf("hour=%02d", p.Hour))
}

// FileName returns the committed file name of the range [first, last].
func FileName(first, last stream.ID) string {
	return partPrefix + first.String() + "-" + last.String() + partSuffix
}

func tmpName(first, last stream.ID) string {
	return tmpPrefix + first.String() + "-" + last.String() + tmpSuffix
}

// ParseFileName parses a committed file name; ok is false for any other
// name (temporary files included).
func ParseFileName(name string) (first, last stream.ID, ok bool) {
	if !strings.HasPrefix(name, partPrefix) || !strings.HasSuffix(name, partSuffix) {
		return first, last, false
	}
	s := strings.TrimSuffix(strings.TrimPrefix(name, partPrefix), partSuffix)
	// s = "<ms>-<seq>-<ms>-<seq>": split at the second '-'.
	i := strings.IndexByte(s, '-')
	if i < 0 {
		return first, last, false
	}
	j := strings.IndexByte(s[i+1:], '-')
	if j < 0 {
		return first, last, false
	}
	j += i + 1
	var err1, err2 error
	first, err1 = stream.ParseID(s[:j])
	last, err2 = stream.ParseID(s[j+1:])
	if err1 != nil || err2 != nil || first.Compare(last) > 0 {
		return stream.ID{}, stream.ID{}, false
	}
	return first, last, true
}

// IsTmpName reports whether name is a writer's temporary file.
func IsTmpName(name string) bool {
	return strings.HasPrefix(name, tmpPrefix) && strings.HasSuffix(name, tmpSuffix)
}
