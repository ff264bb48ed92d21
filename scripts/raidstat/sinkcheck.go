package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"
)

// SinkStats compares one stream with the rows the sink wrote for it.
type SinkStats struct {
	StreamEntries int64 `json:"stream_entries"`
	DeadLettered  int64 `json:"dead_lettered"`  // entries of this stream on the dead-letter stream
	Rows          int64 `json:"rows"`           // rows in the dataset's files
	Files         int64 `json:"files"`          // committed files
	Missing       int64 `json:"missing"`        // stream entries neither in a file nor dead-lettered
	Duplicates    int64 `json:"duplicates"`     // extra rows of an entry already in a file
	Extra         int64 `json:"extra"`          // rows of entries not on the stream
	TmpFiles      int64 `json:"tmp_files"`      // temporary files left (an unfinished commit)
	Unreadable    int64 `json:"unreadable"`     // files that could not be read
	PendingAtEnd  int64 `json:"pending_at_end"` // entries still pending in the sink group
}

// OK reports whether the files hold every entry that was not dead-lettered
// exactly once, and nothing else.
func (s SinkStats) OK() bool {
	return s.Missing == 0 && s.Duplicates == 0 && s.Extra == 0 && s.Unreadable == 0
}

// checkSink compares the stream key with the dataset directory dir (the
// sink's <data dir>/<dataset>), and the dead-letter stream for this
// stream's entries.
func checkSink(ctx context.Context, rdb *redis.Client, key, deadLetter, group, dir string) (SinkStats, error) {
	var s SinkStats
	onStream := map[string]bool{}
	start := "-"
	for {
		msgs, err := rdb.XRangeN(ctx, key, start, "+", 10_000).Result()
		if err != nil {
			return s, fmt.Errorf("read %s: %w", key, err)
		}
		for _, m := range msgs {
			onStream[m.ID] = true
		}
		if len(msgs) < 10_000 {
			break
		}
		start = "(" + msgs[len(msgs)-1].ID
	}
	s.StreamEntries = int64(len(onStream))
	dead := map[string]bool{}
	if deadLetter != "" {
		msgs, err := rdb.XRange(ctx, deadLetter, "-", "+").Result()
		if err != nil {
			return s, fmt.Errorf("read %s: %w", deadLetter, err)
		}
		for _, m := range msgs {
			if str(m.Values["src_stream"]) == key {
				dead[str(m.Values["src_id"])] = true
			}
		}
		s.DeadLettered = int64(len(dead))
	}
	if group != "" {
		if gs, err := rdb.XInfoGroups(ctx, key).Result(); err == nil {
			for _, g := range gs {
				if g.Name == group {
					s.PendingAtEnd = g.Pending
				}
			}
		}
	}
	seen := map[string]int{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch name := d.Name(); {
		case strings.HasPrefix(name, ".part-") && strings.HasSuffix(name, ".tmp"):
			s.TmpFiles++
		case strings.HasPrefix(name, "part-") && strings.HasSuffix(name, ".parquet"):
			s.Files++
			ids, err := readEntryIDs(path)
			if err != nil {
				s.Unreadable++
				return nil
			}
			for _, id := range ids {
				seen[id]++
			}
		}
		return nil
	})
	if err != nil {
		return s, fmt.Errorf("walk %s: %w", dir, err)
	}
	for id, n := range seen {
		s.Rows += int64(n)
		s.Duplicates += int64(n - 1)
		if !onStream[id] {
			s.Extra++
		}
	}
	for id := range onStream {
		if seen[id] == 0 && !dead[id] {
			s.Missing++
		}
	}
	return s, nil
}

type entryIDRow struct {
	EntryID string `parquet:"entry_id"`
}

func readEntryIDs(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, err
	}
	rd := parquet.NewGenericReader[entryIDRow](pf)
	defer rd.Close()
	rows := make([]entryIDRow, pf.NumRows())
	n, err := rd.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if int64(n) != pf.NumRows() {
		return nil, fmt.Errorf("%s: read %d of %d rows", path, n, pf.NumRows())
	}
	ids := make([]string, n)
	for i, r := range rows[:n] {
		ids[i] = r.EntryID
	}
	return ids, nil
}
