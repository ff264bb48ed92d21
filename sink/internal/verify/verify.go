package verify

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
)

// Schemas maps a schema name (footer streamsafe.schema) to the Parquet
// schema its files must have, and Streams a stream directory name to its
// schema name.
type Schemas struct {
	Schemas map[string]*parquet.Schema
	Streams map[string]string
}

// StreamSummary sums up one stream's files.
type StreamSummary struct {
	Stream   string         `json:"stream"`
	Files    int            `json:"files"`
	Rows     int64          `json:"rows"`
	Bytes    int64          `json:"bytes"`
	FirstID  string         `json:"first_id,omitempty"`
	LastID   string         `json:"last_id,omitempty"`
	Versions map[string]int `json:"schema_versions"` // files per schema version
	// Partitions are the dt=/hour= directories holding files, sorted.
	Partitions []string `json:"partitions"`
}

// Report is the result of Dir.
type Report struct {
	Dir      string           `json:"dir"`
	Streams  []*StreamSummary `json:"streams"`
	Problems []string         `json:"problems"` // each names its file
	Warnings []string         `json:"warnings"` // temporary or unknown files
}

// OK reports whether no problem was found.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

type fileRange struct {
	first, last stream.ID
	path        string
}

// Dir checks every file under dir. An error means dir itself could not be
// walked; problems with files are in the report.
func Dir(dir string, sc Schemas) (*Report, error) {
	r := &Report{Dir: dir, Problems: []string{}, Warnings: []string{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read data directory: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: not a stream directory", filepath.Join(dir, e.Name())))
			continue
		}
		schema, ok := sc.Streams[e.Name()]
		if !ok {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: unknown stream directory", filepath.Join(dir, e.Name())))
			continue
		}
		s, err := checkStream(r, filepath.Join(dir, e.Name()), e.Name(), schema, sc.Schemas[schema])
		if err != nil {
			return nil, err
		}
		r.Streams = append(r.Streams, s)
	}
	return r, nil
}

func checkStream(r *Report, dir, name, schema string, want *parquet.Schema) (*StreamSummary, error) {
	s := &StreamSummary{Stream: name, Versions: map[string]int{}, Partitions: []string{}}
	var ranges []fileRange
	parts := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		base := d.Name()
		if filewriter.IsTmpName(base) {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: temporary file of an unfinished commit (removed at the next sink start)", path))
			return nil
		}
		first, last, ok := filewriter.ParseFileName(base)
		if !ok {
			r.Warnings = append(r.Warnings, fmt.Sprintf("%s: not a sink file name", path))
			return nil
		}
		rows, size, version, err := checkFile(path, name, schema, want, first, last)
		if err != nil {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: %v", path, err))
			return nil
		}
		rel, _ := filepath.Rel(dir, filepath.Dir(path))
		parts[rel] = true
		s.Files++
		s.Rows += rows
		s.Bytes += size
		s.Versions[version]++
		ranges = append(ranges, fileRange{first: first, last: last, path: path})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk %s: %w", dir, err)
	}
	sort.Slice(ranges, func(i, j int) bool { return ranges[i].first.Compare(ranges[j].first) < 0 })
	for i := 1; i < len(ranges); i++ {
		if ranges[i].first.Compare(ranges[i-1].last) <= 0 {
			r.Problems = append(r.Problems, fmt.Sprintf("%s: ID range overlaps %s", ranges[i].path, ranges[i-1].path))
		}
	}
	if len(ranges) > 0 {
		s.FirstID = ranges[0].first.String()
		last := ranges[0].last
		for _, fr := range ranges {
			if fr.last.Compare(last) > 0 {
				last = fr.last
			}
		}
		s.LastID = last.String()
	}
	for p := range parts {
		s.Partitions = append(s.Partitions, p)
	}
	slices.Sort(s.Partitions)
	return s, nil
}

// entryIDRow reads only the entry_id column.
type entryIDRow struct {
	EntryID string `parquet:"entry_id"`
}

// checkFile checks one committed file and returns its row count, size and
// schema version.
func checkFile(path, streamName, schema string, want *parquet.Schema, first, last stream.ID) (int64, int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, "", fmt.Errorf("open: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, "", fmt.Errorf("stat: %w", err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return 0, 0, "", fmt.Errorf("unreadable footer: %w", err)
	}
	meta := func(k string) (string, error) {
		v, ok := pf.Lookup(k)
		if !ok {
			return "", fmt.Errorf("footer lacks %s", k)
		}
		return v, nil
	}
	var problems []string
	check := func(k, wantV string) {
		v, err := meta(k)
		if err != nil {
			problems = append(problems, err.Error())
		} else if v != wantV {
			problems = append(problems, fmt.Sprintf("%s = %q, want %q", k, v, wantV))
		}
	}
	check(filewriter.MetaStream, streamName)
	check(filewriter.MetaSchema, schema)
	check(filewriter.MetaFirstID, first.String())
	check(filewriter.MetaLastID, last.String())
	check(filewriter.MetaRows, strconv.FormatInt(pf.NumRows(), 10))
	version, err := meta(filewriter.MetaSchemaVersion)
	if err != nil {
		problems = append(problems, err.Error())
	}
	if want != nil {
		if d := diffColumns(pf.Schema(), want); d != "" {
			problems = append(problems, "columns differ from schema "+schema+": "+d)
		}
	}
	if err := checkChunkPaths(pf); err != nil {
		problems = append(problems, err.Error())
	}
	wantPart := filewriter.PartitionOf(first)
	if filewriter.PartitionOf(last) != wantPart {
		problems = append(problems, "first and last IDs are in different hours")
	}
	if got := filepath.Dir(path); filepath.Base(got) != fmt.Sprintf("hour=%02d", wantPart.Hour) ||
		filepath.Base(filepath.Dir(got)) != "dt="+wantPart.Date {
		problems = append(problems, fmt.Sprintf("in partition %s, want dt=%s/hour=%02d", got, wantPart.Date, wantPart.Hour))
	}
	if len(problems) == 0 {
		if err := checkIDs(pf, first, last); err != nil {
			problems = append(problems, err.Error())
		} else if err := checkPages(pf); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return 0, 0, "", errors.New(strings.Join(problems, "; "))
	}
	return pf.NumRows(), st.Size(), version, nil
}

// checkIDs reads the entry_id column: strictly increasing, from first to
// last, NumRows values.
func checkIDs(pf *parquet.File, first, last stream.ID) error {
	rd := parquet.NewGenericReader[entryIDRow](pf)
	defer rd.Close()
	buf := make([]entryIDRow, 4096)
	var prev stream.ID
	var n int64
	for {
		k, err := rd.Read(buf)
		for _, row := range buf[:k] {
			id, perr := stream.ParseID(row.EntryID)
			if perr != nil {
				return fmt.Errorf("row %d: %w", n, perr)
			}
			if n == 0 && id != first {
				return fmt.Errorf("first row has ID %s, want %s", id, first)
			}
			if n > 0 && id.Compare(prev) <= 0 {
				return fmt.Errorf("row %d: ID %s does not follow %s", n, id, prev)
			}
			prev = id
			n++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read entry_id after %d rows: %w", n, err)
		}
	}
	if n != pf.NumRows() {
		return fmt.Errorf("read %d rows, footer says %d", n, pf.NumRows())
	}
	if n > 0 && prev != last {
		return fmt.Errorf("last row has ID %s, want %s", prev, last)
	}
	return nil
}

// checkPages reads (decompresses, checks the CRC of and decodes) every page
// of every column chunk: checkIDs reads only entry_id, and a damaged page of
// any other column would make the file unreadable for training.
func checkPages(pf *parquet.File) error {
	cols := pf.Schema().Columns()
	for i, rg := range pf.RowGroups() {
		for _, cc := range rg.ColumnChunks() {
			if err := readPages(cc.Pages()); err != nil {
				col := "?"
				if k := cc.Column(); k >= 0 && k < len(cols) {
					col = strings.Join(cols[k], ".")
				}
				return fmt.Errorf("read column %s of row group %d: %w", col, i, err)
			}
		}
	}
	return nil
}

func readPages(pages parquet.Pages) error {
	defer pages.Close()
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		parquet.Release(p)
	}
}

// diffColumns compares the leaf column paths and types of got and want.
func diffColumns(got, want *parquet.Schema) string {
	cols := func(s *parquet.Schema) map[string]string {
		out := map[string]string{}
		for _, path := range s.Columns() {
			leaf, _ := s.Lookup(path...)
			out[strings.Join(path, ".")] = leaf.Node.Type().String()
		}
		return out
	}
	g, w := cols(got), cols(want)
	var d []string
	for k, wt := range w {
		gt, ok := g[k]
		switch {
		case !ok:
			d = append(d, "missing "+k)
		case gt != wt:
			d = append(d, fmt.Sprintf("%s is %s, want %s", k, gt, wt))
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			d = append(d, "unexpected "+k)
		}
	}
	slices.Sort(d)
	return strings.Join(d, ", ")
}

// checkChunkPaths checks that every column chunk of every row group names
// its column (path_in_schema) as the schema does, in schema order: readers
// that resolve columns by path (Spark, parquet-mr) refuse a file whose
// chunks do not, even when readers that go by position (pyarrow,
// parquet-go) read it.
func checkChunkPaths(pf *parquet.File) error {
	want := pf.Schema().Columns()
	for i, rg := range pf.Metadata().RowGroups {
		if len(rg.Columns) != len(want) {
			return fmt.Errorf("row group %d has %d column chunks, the schema %d columns", i, len(rg.Columns), len(want))
		}
		for j, cc := range rg.Columns {
			if !slices.Equal(cc.MetaData.PathInSchema, want[j]) {
				return fmt.Errorf("row group %d column chunk %d has path_in_schema %q, want %q",
					i, j, strings.Join(cc.MetaData.PathInSchema, "."), strings.Join(want[j], "."))
			}
		}
	}
	return nil
}
