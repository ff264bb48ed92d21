package filewriter

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

type testRow struct {
	EntryID string    `parquet:"entry_id"`
	N       int64     `parquet:"n"`
	At      int64     `parquet:"at,optional,timestamp(microsecond:utc)"`
	Vals    []float32 `parquet:"vals,list"`
}

func newTestWriter(t *testing.T, dir string, lim Limits) *Writer[testRow] {
	t.Helper()
	w, err := New[testRow](Dataset{Dir: dir, Stream: "decisions", Schema: "decision", Writer: "sink/test"}, lim)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

var testLimits = Limits{RowGroupRows: 3, FileRows: 10, FileBytes: 1 << 20, FileAge: time.Hour}

// hourMS is 2026-11-25T13:00:00Z in Unix ms.
const hourMS = 1795611600000

func id(ms, seq uint64) stream.ID { return stream.ID{MS: ms, Seq: seq} }

func appendRows(w *Writer[testRow], ids ...stream.ID) {
	for i, x := range ids {
		w.Append(x, x.String(), testRow{EntryID: x.String(), N: int64(i), At: int64(i) * 1000, Vals: []float32{float32(i), 0.5}}, "1", 100)
	}
}

func readRows(t *testing.T, path string) ([]testRow, *parquet.File) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	rd := parquet.NewGenericReader[testRow](pf)
	out := make([]testRow, pf.NumRows())
	n, err := rd.Read(out)
	if err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("read: %v", err)
	}
	return out[:n], pf
}

func TestCommit_WritesNamedPartitionedFileWithMetadata(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "decisions")
	w := newTestWriter(t, dir, testLimits)
	if _, err := w.Recover(); err != nil {
		t.Fatal(err)
	}
	ids := []stream.ID{id(hourMS+5, 0), id(hourMS+5, 1), id(hourMS+9, 0), id(hourMS+10, 0), id(hourMS+11, 3)}
	appendRows(w, ids...)
	c, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit() = %v", err)
	}
	want := filepath.Join(dir, "dt=2026-11-25", "hour=13", "part-1795611600005-0-1795611600011-3.parquet")
	if c.Path != want || c.Rows != 5 || len(c.IDs) != 5 || c.IDs[4] != "1795611600011-3" {
		t.Fatalf("commit = %+v, want path %s with 5 rows and IDs", c, want)
	}
	got, pf := readRows(t, c.Path)
	if len(got) != 5 || got[3].EntryID != "1795611600010-0" || got[4].Vals[0] != 4 || got[2].At != 2000 {
		t.Fatalf("rows read back = %+v", got)
	}
	if n := len(pf.RowGroups()); n != 2 {
		t.Errorf("row groups = %d, want 2 (3 rows per group)", n)
	}
	for k, v := range map[string]string{MetaStream: "decisions", MetaSchema: "decision", MetaSchemaVersion: "1",
		MetaFirstID: "1795611600005-0", MetaLastID: "1795611600011-3", MetaRows: "5", MetaWriter: "sink/test"} {
		if got, _ := pf.Lookup(k); got != v {
			t.Errorf("metadata %s = %q, want %q", k, got, v)
		}
	}
	if w.Len() != 0 || !w.Committed().Contains(id(hourMS+9, 0)) || w.Committed().Contains(id(hourMS+12, 0)) {
		t.Errorf("after commit: len %d, committed ranges %+v", w.Len(), w.Committed().All())
	}
	// Nothing else in the partition: no temporary file left behind.
	ents, _ := os.ReadDir(filepath.Dir(c.Path))
	if len(ents) != 1 {
		t.Errorf("partition holds %d files, want 1", len(ents))
	}
}

func TestAccepts(t *testing.T) {
	w := newTestWriter(t, t.TempDir(), testLimits)
	if !w.Accepts(id(hourMS, 0), "1") {
		t.Fatal("empty writer refuses a row")
	}
	appendRows(w, id(hourMS+10, 0))
	tests := []struct {
		name    string
		id      stream.ID
		version string
		want    bool
	}{
		{"next id, same hour and version", id(hourMS+11, 0), "1", true},
		{"older id", id(hourMS+9, 0), "1", false},
		{"same id", id(hourMS+10, 0), "1", false},
		{"next hour", id(hourMS+3600_000, 0), "1", false},
		{"other schema version", id(hourMS+11, 0), "2", false},
	}
	for _, tt := range tests {
		if got := w.Accepts(tt.id, tt.version); got != tt.want {
			t.Errorf("%s: Accepts = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !w.Buffered(id(hourMS+10, 0)) || w.Buffered(id(hourMS+11, 0)) {
		t.Error("Buffered does not match the buffered range")
	}
}

func TestFull(t *testing.T) {
	lim := Limits{RowGroupRows: 2, FileRows: 3, FileBytes: 250, FileAge: time.Minute}
	w := newTestWriter(t, t.TempDir(), lim)
	now := time.Now()
	if w.Full(now.Add(time.Hour)) {
		t.Fatal("an empty writer is never full")
	}
	appendRows(w, id(hourMS, 0))
	if w.Full(now) {
		t.Fatal("one row of 100 bytes is not full")
	}
	if !w.Full(now.Add(2 * time.Minute)) {
		t.Error("not full after FileAge")
	}
	appendRows(w, id(hourMS+1, 0), id(hourMS+2, 0))
	if !w.Full(now) {
		t.Error("not full at FileRows (and FileBytes)")
	}
}

func TestRecover_RemovesTmpAndLoadsRanges(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "decisions")
	w := newTestWriter(t, dir, testLimits)
	if _, err := w.Recover(); err != nil {
		t.Fatal(err)
	}
	appendRows(w, id(hourMS+1, 0), id(hourMS+2, 0))
	c1, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	appendRows(w, id(hourMS+3600_000, 0), id(hourMS+3600_005, 0))
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(c1.Path), tmpName(id(hourMS+7, 0), id(hourMS+8, 0)))
	if err := os.WriteFile(tmp, []byte("torn"), 0o644); err != nil {
		t.Fatal(err)
	}
	w2 := newTestWriter(t, dir, testLimits)
	removed, err := w2.Recover()
	if err != nil {
		t.Fatal(err)
	}
	if removed != 1 {
		t.Errorf("removed %d temporary files, want 1", removed)
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("temporary file still there: %v", err)
	}
	if w2.Committed().Len() != 2 || !w2.Committed().Contains(id(hourMS+2, 0)) ||
		!w2.Committed().Contains(id(hourMS+3600_003, 7)) || w2.Committed().Contains(id(hourMS+5, 0)) {
		t.Errorf("recovered ranges %+v", w2.Committed().All())
	}
}

func TestCommit_FailureKeepsRowsAndLeavesNoFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "decisions")
	w := newTestWriter(t, dir, testLimits)
	if _, err := w.Recover(); err != nil {
		t.Fatal(err)
	}
	appendRows(w, id(hourMS+1, 0), id(hourMS+2, 0))
	// A file where the partition directory should be: MkdirAll fails.
	if err := os.WriteFile(filepath.Join(dir, "dt=2026-11-25"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err == nil {
		t.Fatal("Commit() succeeded with a blocked partition directory")
	}
	if w.Len() != 2 || w.Committed().Len() != 0 {
		t.Fatalf("after a failed commit: %d rows buffered, %d ranges committed; want 2 and 0", w.Len(), w.Committed().Len())
	}
	if err := os.Remove(filepath.Join(dir, "dt=2026-11-25")); err != nil {
		t.Fatal(err)
	}
	w.dirs = map[string]bool{}
	c, err := w.Commit()
	if err != nil || c.Rows != 2 {
		t.Fatalf("retry: %+v, %v", c, err)
	}
}

func TestParseFileName(t *testing.T) {
	tests := []struct {
		name        string
		first, last string
		ok          bool
	}{
		{"part-1-0-2-5.parquet", "1-0", "2-5", true},
		{"part-1795611600005-0-1795611600011-3.parquet", "1795611600005-0", "1795611600011-3", true},
		{".part-1-0-2-5.parquet.tmp", "", "", false},
		{"part-2-0-1-0.parquet", "", "", false}, // first after last
		{"part-1-0.parquet", "", "", false},
		{"part-x-0-2-0.parquet", "", "", false},
		{"notes.txt", "", "", false},
	}
	for _, tt := range tests {
		first, last, ok := ParseFileName(tt.name)
		if ok != tt.ok || (ok && (first.String() != tt.first || last.String() != tt.last)) {
			t.Errorf("ParseFileName(%q) = %s, %s, %v; want %s, %s, %v", tt.name, first, last, ok, tt.first, tt.last, tt.ok)
		}
	}
	if got := FileName(id(1, 2), id(3, 4)); got != "part-1-2-3-4.parquet" {
		t.Errorf("FileName = %q", got)
	}
}

func TestRanges(t *testing.T) {
	var r Ranges
	for _, x := range [][2]uint64{{50, 60}, {10, 20}, {30, 40}} {
		r.Add(Range{First: id(x[0], 0), Last: id(x[1], 0)})
	}
	for ms, want := range map[uint64]bool{5: false, 10: true, 15: true, 20: true, 25: false, 40: true, 45: false, 60: true, 61: false} {
		if got := r.Contains(id(ms, 0)); got != want {
			t.Errorf("Contains(%d) = %v, want %v", ms, got, want)
		}
	}
	if r.Max() != id(60, 0) {
		t.Errorf("Max = %s", r.Max())
	}
}

func BenchmarkCommit(b *testing.B) {
	dir := b.TempDir()
	w, err := New[testRow](Dataset{Dir: dir, Stream: "decisions", Schema: "decision", Writer: "sink/bench"},
		Limits{RowGroupRows: 10_000, FileRows: 50_000, FileBytes: 1 << 30, FileAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	ms := uint64(hourMS)
	for b.Loop() {
		for i := range 10_000 {
			x := id(ms, uint64(i))
			w.Append(x, x.String(), testRow{EntryID: x.String(), N: int64(i), At: int64(i), Vals: []float32{1, 2, 3}}, "1", 100)
		}
		ms++
		if _, err := w.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10_000), "ns/row")
}
