package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/redistest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// writeIDs writes a Parquet file holding only an entry_id column.
func writeIDs(t *testing.T, path string, ids ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[entryIDRow](f)
	rs := make([]entryIDRow, len(ids))
	for i, id := range ids {
		rs[i] = entryIDRow{EntryID: id}
	}
	if _, err := w.Write(rs); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// sinkFixture is one stream with six entries (IDs 1-0 .. 6-0), a sink group
// and a dataset directory.
type sinkFixture struct {
	rdb *redis.Client
	key string
	dir string
}

const testDeadLetter = "test:deadletter"

func newSinkFixture(t *testing.T, rdb *redis.Client, name string) *sinkFixture {
	t.Helper()
	ctx := context.Background()
	f := &sinkFixture{rdb: rdb, key: "test:" + name, dir: filepath.Join(t.TempDir(), name)}
	for i := 1; i <= 6; i++ {
		if err := rdb.XAdd(ctx, &redis.XAddArgs{Stream: f.key, ID: fmt.Sprintf("%d-0", i), Values: []any{"n", i}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := rdb.XGroupCreate(ctx, f.key, "sink", "0").Err(); err != nil {
		t.Fatal(err)
	}
	return f
}

// deadLetter puts entry id of the fixture's stream on the dead-letter stream.
func (f *sinkFixture) deadLetter(t *testing.T, id string) {
	t.Helper()
	dl := stream.DeadLetter{SrcStream: f.key, SrcID: id, Group: "sink", Consumer: "sink-0", Reason: "validate mod event: bad", Deliveries: 1}
	if err := f.rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: testDeadLetter, Values: dl.Values(nil)}).Err(); err != nil {
		t.Fatal(err)
	}
}

// file writes a part file with ids under the fixture's directory.
func (f *sinkFixture) file(t *testing.T, name string, ids ...string) {
	t.Helper()
	writeIDs(t, filepath.Join(f.dir, "dt=1970-01-01", "hour=00", name), ids...)
}

func TestCheckSink(t *testing.T) {
	rdb := redis.NewClient(&redis.Options{Addr: redistest.Start(t)})
	defer rdb.Close()
	tests := []struct {
		name  string
		setup func(t *testing.T, f *sinkFixture)
		want  SinkStats
		ok    bool
	}{
		{"every entry once", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-3-0.parquet", "1-0", "2-0", "3-0")
			f.file(t, "part-4-0-6-0.parquet", "4-0", "5-0", "6-0")
		}, SinkStats{StreamEntries: 6, Rows: 6, Files: 2}, true},
		{"dead-lettered entry not in a file", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-6-0.parquet", "1-0", "2-0", "3-0", "5-0", "6-0")
			f.deadLetter(t, "4-0")
		}, SinkStats{StreamEntries: 6, DeadLettered: 1, Rows: 5, Files: 1}, true},
		{"missing entry", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-6-0.parquet", "1-0", "2-0", "3-0", "5-0", "6-0")
		}, SinkStats{StreamEntries: 6, Rows: 5, Files: 1, Missing: 1}, false},
		{"duplicate row", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-3-0.parquet", "1-0", "2-0", "3-0")
			f.file(t, "part-3-0-6-0.parquet", "3-0", "4-0", "5-0", "6-0")
		}, SinkStats{StreamEntries: 6, Rows: 7, Files: 2, Duplicates: 1}, false},
		{"extra row", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-7-0.parquet", "1-0", "2-0", "3-0", "4-0", "5-0", "6-0", "7-0")
		}, SinkStats{StreamEntries: 6, Rows: 7, Files: 1, Extra: 1}, false},
		{"unreadable file and a temporary one", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-6-0.parquet", "1-0", "2-0", "3-0", "4-0", "5-0", "6-0")
			if err := os.WriteFile(filepath.Join(f.dir, "dt=1970-01-01", "hour=00", "part-7-0-8-0.parquet"), []byte("torn"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(f.dir, "dt=1970-01-01", "hour=00", ".part-7-0.parquet.tmp"), nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}, SinkStats{StreamEntries: 6, Rows: 6, Files: 2, Unreadable: 1, TmpFiles: 1}, false},
		{"pending entries at the end", func(t *testing.T, f *sinkFixture) {
			f.file(t, "part-1-0-6-0.parquet", "1-0", "2-0", "3-0", "4-0", "5-0", "6-0")
			err := f.rdb.XReadGroup(context.Background(), &redis.XReadGroupArgs{Group: "sink", Consumer: "c", Streams: []string{f.key, ">"}, Count: 2}).Err()
			if err != nil {
				t.Fatal(err)
			}
		}, SinkStats{StreamEntries: 6, Rows: 6, Files: 1, PendingAtEnd: 2}, true},
		{"all at once", func(t *testing.T, f *sinkFixture) {
			// 1, 2 once; 3 twice; 4 missing; 5 dead-lettered; 6 once; 9 extra.
			f.file(t, "part-1-0-3-0.parquet", "1-0", "2-0", "3-0")
			f.file(t, "part-3-0-9-0.parquet", "3-0", "6-0", "9-0")
			f.deadLetter(t, "5-0")
		}, SinkStats{StreamEntries: 6, DeadLettered: 1, Rows: 6, Files: 2, Missing: 1, Duplicates: 1, Extra: 1}, false},
		{"no directory", func(*testing.T, *sinkFixture) {}, SinkStats{StreamEntries: 6, Missing: 6}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSinkFixture(t, rdb, fmt.Sprint("ds", i))
			tt.setup(t, f)
			got, err := checkSink(context.Background(), rdb, f.key, testDeadLetter, "sink", f.dir)
			if err != nil {
				t.Fatalf("checkSink() = %v", err)
			}
			if got != tt.want {
				t.Errorf("checkSink() = %+v, want %+v", got, tt.want)
			}
			if got.OK() != tt.ok {
				t.Errorf("OK() = %v, want %v", got.OK(), tt.ok)
			}
		})
	}
}

func TestRun_SinkCheck(t *testing.T) {
	addr := redistest.Start(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	dir := t.TempDir()
	for _, ds := range []string{"decisions", "mod", "executions"} {
		f := newSinkFixture(t, rdb, ds)
		f.dir = filepath.Join(dir, ds)
		f.file(t, "part-1-0-6-0.parquet", "1-0", "2-0", "3-0", "4-0", "5-0", "6-0")
	}
	args := []string{"-redis", addr, "-sink-check", "-sink-dir", dir, "-decisions", "test:decisions", "-mod", "test:mod",
		"-executions", "test:executions", "-deadletter", testDeadLetter}
	var out bytes.Buffer
	if err := run(context.Background(), args, &out); err != nil {
		t.Fatalf("run(-sink-check) of matching files = %v\n%s", err, out.String())
	}
	var got map[string]SinkStats
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("output %q: %v", out.String(), err)
	}
	if len(got) != 3 || got["mod"].Rows != 6 || !got["executions"].OK() {
		t.Errorf("-sink-check output = %+v, want three datasets of 6 rows", got)
	}

	// One more decision on the stream that no file holds.
	if err := rdb.XAdd(context.Background(), &redis.XAddArgs{Stream: "test:decisions", ID: "7-0", Values: []any{"n", 7}}).Err(); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err := run(context.Background(), args, &out)
	if err == nil || !strings.Contains(err.Error(), "do not match") {
		t.Errorf("run(-sink-check) with a missing entry = %v, want a mismatch error", err)
	}
	if !strings.Contains(out.String(), `"missing":1`) {
		t.Errorf("output %s lacks the missing entry", out.String())
	}
	if err := run(context.Background(), []string{"-redis", addr, "-sink-check"}, &out); err == nil {
		t.Error("run(-sink-check) without -sink-dir = nil, want an error")
	}
}
