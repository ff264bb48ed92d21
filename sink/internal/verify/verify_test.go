package verify

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/event/eventtest"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
	"github.com/streamsafe-rl/streamsafe/sink/internal/rows"
)

// hourMS is 2026-11-25T13:00:00Z in Unix ms.
const hourMS = 1795611600000

// testSchemas are the sink's schemas for the mod and executions datasets.
func testSchemas() Schemas {
	return Schemas{
		Schemas: map[string]*parquet.Schema{"mod": parquet.SchemaOf(rows.Mod{}), "execution": parquet.SchemaOf(rows.Execution{})},
		Streams: map[string]string{"mod": "mod", "executions": "execution"},
	}
}

// id returns the entry ID ms milliseconds after hourMS.
func id(ms int) string { return fmt.Sprintf("%d-0", hourMS+ms) }

// partition returns the directory of the test hour (+ hours) under a
// stream directory.
func partition(streamDir string, hours int) string {
	return filepath.Join(streamDir, "dt=2026-11-25", fmt.Sprintf("hour=%02d", 13+hours))
}

// commitMods writes the mod rows of ids (one file) with the sink's own
// writer and returns the file's path.
func commitMods(t *testing.T, streamDir string, ids ...string) string {
	t.Helper()
	w, err := filewriter.New[rows.Mod](filewriter.Dataset{Dir: streamDir, Stream: "mod", Schema: "mod", Writer: "sink/test"},
		filewriter.Limits{RowGroupRows: 2, FileRows: 1000, FileBytes: 1 << 30, FileAge: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ids {
		x, _ := stream.ParseID(s)
		m := eventtest.Mods()[event.ModTimeout]
		w.Append(x, s, rows.FromMod(s, &m), event.ModSchemaVersion, 100)
	}
	c, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return c.Path
}

// writeMods writes a mod file by hand: rows with entry IDs rowIDs, the
// footer metadata of a correct file for them changed by meta (an empty
// value drops the key).
func writeMods(t *testing.T, path string, rowIDs []string, meta map[string]string) {
	t.Helper()
	kv := map[string]string{
		filewriter.MetaStream: "mod", filewriter.MetaSchema: "mod", filewriter.MetaSchemaVersion: "1",
		filewriter.MetaFirstID: rowIDs[0], filewriter.MetaLastID: rowIDs[len(rowIDs)-1],
		filewriter.MetaRows: strconv.Itoa(len(rowIDs)), filewriter.MetaWriter: "sink/test",
	}
	for k, v := range meta {
		kv[k] = v
	}
	var opts []parquet.WriterOption
	for k, v := range kv {
		if v != "" {
			opts = append(opts, parquet.KeyValueMetadata(k, v))
		}
	}
	writeRows(t, path, modRows(rowIDs), opts...)
}

func modRows(ids []string) []rows.Mod {
	out := make([]rows.Mod, len(ids))
	for i, s := range ids {
		m := eventtest.Mods()[event.ModBan]
		out[i] = rows.FromMod(s, &m)
	}
	return out
}

func writeRows[T any](t *testing.T, path string, rs []T, opts ...parquet.WriterOption) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[T](f, append(opts, parquet.Compression(&parquet.Zstd))...)
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

// goodDir writes a valid data directory: two mod files in two hours and
// one executions file. It returns the data directory and the mod files.
func goodDir(t *testing.T) (dir string, modFiles []string) {
	t.Helper()
	dir = t.TempDir()
	modDir := filepath.Join(dir, "mod")
	modFiles = append(modFiles, commitMods(t, modDir, id(1), id(2), id(5)))
	modFiles = append(modFiles, commitMods(t, modDir, id(3600_000), id(3600_001)))
	w, err := filewriter.New[rows.Execution](filewriter.Dataset{Dir: filepath.Join(dir, "executions"), Stream: "executions", Schema: "execution", Writer: "sink/test"},
		filewriter.Limits{RowGroupRows: 10, FileRows: 10, FileBytes: 1 << 30, FileAge: 1 << 40})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range eventtest.Executions() {
		s := id(10 + w.Len())
		xid, _ := stream.ParseID(s)
		w.Append(xid, s, rows.FromExecution(s, &x), event.ExecutionSchemaVersion, 100)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	return dir, modFiles
}

func TestDir_GoodDirectoryPasses(t *testing.T) {
	dir, _ := goodDir(t)
	rep, err := Dir(dir, testSchemas())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || len(rep.Warnings) != 0 {
		t.Fatalf("problems %v, warnings %v; want none", rep.Problems, rep.Warnings)
	}
	if len(rep.Streams) != 2 {
		t.Fatalf("streams = %d, want 2 (mod, executions)", len(rep.Streams))
	}
	mod := rep.Streams[1]
	if mod.Stream != "mod" {
		t.Fatalf("streams are %s, %s; want executions, mod (directory order)", rep.Streams[0].Stream, mod.Stream)
	}
	want := StreamSummary{Stream: "mod", Files: 2, Rows: 5, FirstID: id(1), LastID: id(3600_001)}
	if mod.Files != want.Files || mod.Rows != want.Rows || mod.FirstID != want.FirstID || mod.LastID != want.LastID {
		t.Errorf("mod summary = %+v, want %+v", mod, want)
	}
	if mod.Versions["1"] != 2 || len(mod.Versions) != 1 {
		t.Errorf("mod versions = %v, want 2 files of version 1", mod.Versions)
	}
	if got := strings.Join(mod.Partitions, " "); got != "dt=2026-11-25/hour=13 dt=2026-11-25/hour=14" {
		t.Errorf("mod partitions = %q", got)
	}
	if mod.Bytes <= 0 {
		t.Errorf("mod bytes = %d, want the file sizes", mod.Bytes)
	}
	if x := rep.Streams[0]; x.Files != 1 || x.Rows != int64(len(event.ExecutionStatuses)) {
		t.Errorf("executions summary = %+v, want 1 file of %d rows", x, len(event.ExecutionStatuses))
	}
}

func TestDir_Problems(t *testing.T) {
	tests := []struct {
		name string
		// damage breaks the good directory and returns the file the
		// problem must name and a fragment of the problem.
		damage func(t *testing.T, dir string, mods []string) (file, want string)
	}{
		{"truncated file", func(t *testing.T, _ string, mods []string) (string, string) {
			st, _ := os.Stat(mods[0])
			if err := os.Truncate(mods[0], st.Size()/2); err != nil {
				t.Fatal(err)
			}
			return mods[0], "unreadable footer"
		}},
		{"garbage under a final name", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(200)+".parquet")
			if err := os.WriteFile(p, []byte("PAR1 this is not parquet PAR1"), 0o644); err != nil {
				t.Fatal(err)
			}
			return p, "unreadable footer"
		}},
		{"corrupt data page", func(t *testing.T, dir string, _ []string) (string, string) {
			// A larger file whose middle is overwritten: the footer reads,
			// the pages do not.
			var ids []string
			for i := range 2000 {
				ids = append(ids, id(100+i))
			}
			p := commitMods(t, filepath.Join(dir, "mod"), ids...)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := 8; i < len(b)/2; i++ {
				b[i] = 0xff
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p, ""
		}},
		{"damaged page of a column other than entry_id", func(t *testing.T, dir string, _ []string) (string, string) {
			var ids []string
			for i := range 2000 {
				ids = append(ids, id(100+i))
			}
			p := commitMods(t, filepath.Join(dir, "mod"), ids...)
			// Flip the bytes of the last column chunk (received_at) after
			// its page header: the footer and entry_id still read.
			f, err := os.Open(p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := f.Stat()
			pf, err := parquet.OpenFile(f, st.Size())
			if err != nil {
				t.Fatal(err)
			}
			cols := pf.Metadata().RowGroups[0].Columns
			cc := cols[len(cols)-1].MetaData
			f.Close()
			if got := strings.Join(cc.PathInSchema, "."); got != "received_at" {
				t.Fatalf("last column is %s, want received_at", got)
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			for i := cc.DataPageOffset + cc.TotalCompressedSize - 8; i < cc.DataPageOffset+cc.TotalCompressedSize; i++ {
				b[i] ^= 0x5a
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			return p, "read column received_at"
		}},
		{"wrong stream in the footer", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaStream: "decisions"})
			return p, `streamsafe.stream = "decisions", want "mod"`
		}},
		{"wrong schema in the footer", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaSchema: "decision"})
			return p, `streamsafe.schema = "decision", want "mod"`
		}},
		{"no schema version in the footer", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaSchemaVersion: ""})
			return p, "footer lacks streamsafe.schema_version"
		}},
		{"footer row count differs", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaRows: "3"})
			return p, `streamsafe.rows = "3", want "2"`
		}},
		{"footer last id differs from the name", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaLastID: id(102)})
			return p, "streamsafe.last_id"
		}},
		{"rows outside the name's range", func(t *testing.T, dir string, _ []string) (string, string) {
			// Footer and name agree (100..101); the rows are 300..301.
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(101)+".parquet")
			writeMods(t, p, []string{id(300), id(301)}, map[string]string{filewriter.MetaFirstID: id(100), filewriter.MetaLastID: id(101)})
			return p, "first row has ID " + id(300)
		}},
		{"last row short of the name's range", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(105)+".parquet")
			writeMods(t, p, []string{id(100), id(101)}, map[string]string{filewriter.MetaLastID: id(105)})
			return p, "last row has ID " + id(101)
		}},
		{"rows out of order", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(102)+".parquet")
			writeMods(t, p, []string{id(100), id(103), id(101), id(102)}, nil)
			return p, "does not follow"
		}},
		{"file in the wrong partition", func(t *testing.T, dir string, mods []string) (string, string) {
			dst := filepath.Join(partition(filepath.Join(dir, "mod"), 5), filepath.Base(mods[0]))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(mods[0], dst); err != nil {
				t.Fatal(err)
			}
			return dst, "want dt=2026-11-25/hour=13"
		}},
		{"range spanning two hours", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(3600_100)+".parquet")
			writeMods(t, p, []string{id(100), id(3600_100)}, nil)
			return p, "different hours"
		}},
		{"overlapping ranges", func(t *testing.T, dir string, _ []string) (string, string) {
			// 2..3 overlaps the good file 1..5.
			p := commitMods(t, filepath.Join(dir, "mod"), id(2), id(3))
			return p, "ID range overlaps"
		}},
		{"columns of another schema", func(t *testing.T, dir string, _ []string) (string, string) {
			p := filepath.Join(partition(filepath.Join(dir, "mod"), 0), "part-"+id(100)+"-"+id(100)+".parquet")
			x := eventtest.Executions()["success"]
			writeRows(t, p, []rows.Execution{rows.FromExecution(id(100), &x)},
				parquet.KeyValueMetadata(filewriter.MetaStream, "mod"), parquet.KeyValueMetadata(filewriter.MetaSchema, "mod"),
				parquet.KeyValueMetadata(filewriter.MetaSchemaVersion, "1"), parquet.KeyValueMetadata(filewriter.MetaFirstID, id(100)),
				parquet.KeyValueMetadata(filewriter.MetaLastID, id(100)), parquet.KeyValueMetadata(filewriter.MetaRows, "1"))
			return p, "columns differ from schema mod"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, mods := goodDir(t)
			file, want := tt.damage(t, dir, mods)
			rep, err := Dir(dir, testSchemas())
			if err != nil {
				t.Fatalf("Dir() = %v", err)
			}
			if rep.OK() {
				t.Fatalf("report OK, want a problem naming %s", file)
			}
			t.Logf("problems: %q", rep.Problems)
			found := false
			for _, p := range rep.Problems {
				if strings.HasPrefix(p, file+": ") && strings.Contains(p, want) {
					found = true
				}
			}
			if !found {
				t.Errorf("problems %q, want one naming %s with %q", rep.Problems, file, want)
			}
			if len(rep.Warnings) != 0 {
				t.Errorf("warnings %v, want none", rep.Warnings)
			}
		})
	}
}

func TestDir_TemporaryAndUnknownFilesAreWarnings(t *testing.T) {
	dir, _ := goodDir(t)
	part := partition(filepath.Join(dir, "mod"), 0)
	files := map[string]string{
		filepath.Join(part, ".part-"+id(50)+".parquet.tmp"): "temporary file",
		filepath.Join(part, "notes.txt"):                    "not a sink file name",
		filepath.Join(dir, "README"):                        "not a stream directory",
		filepath.Join(dir, "chat", "x.parquet"):             "unknown stream directory",
	}
	for p := range files {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := Dir(dir, testSchemas())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Errorf("problems %v, want none (temporary and unknown files are warnings)", rep.Problems)
	}
	for p, want := range files {
		name := p
		if strings.HasSuffix(p, "x.parquet") {
			name = filepath.Dir(p) // the unknown directory is reported, not walked
		}
		found := false
		for _, w := range rep.Warnings {
			if strings.HasPrefix(w, name+": ") && strings.Contains(w, want) {
				found = true
			}
		}
		if !found {
			t.Errorf("warnings %q lack %s: %s", rep.Warnings, name, want)
		}
	}
	if len(rep.Warnings) != len(files) {
		t.Errorf("warnings = %d, want %d", len(rep.Warnings), len(files))
	}
}

func TestDir_MissingDirectoryIsAnError(t *testing.T) {
	if _, err := Dir(filepath.Join(t.TempDir(), "nope"), testSchemas()); err == nil {
		t.Error("Dir of a missing directory = nil error, want one")
	}
}

// TestCheckChunkPaths_ResetWriter reproduces parquet-go issue #602: a
// GenericWriter reused with Reset writes its second file's column chunks
// without path_in_schema. verify must report such a file (Spark cannot read
// it), and accept a file from a fresh writer.
func TestCheckChunkPaths_ResetWriter(t *testing.T) {
	type row struct {
		EntryID string  `parquet:"entry_id"`
		X       []int64 `parquet:"x,list"`
	}
	dir := t.TempDir()
	var first, second bytes.Buffer
	w := parquet.NewGenericWriter[row](&first)
	if _, err := w.Write([]row{{EntryID: "1-0", X: []int64{1}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Reset(&second)
	if _, err := w.Write([]row{{EntryID: "2-0", X: []int64{2}}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		data    []byte
		wantBad bool
	}{{"fresh writer", first.Bytes(), false}, {"reset writer", second.Bytes(), true}} {
		p := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".parquet")
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(c.data), int64(len(c.data)))
		if err != nil {
			t.Fatal(err)
		}
		err = checkChunkPaths(pf)
		if (err != nil) != c.wantBad {
			t.Errorf("%s: checkChunkPaths = %v, want error %v", c.name, err, c.wantBad)
		}
	}
}
