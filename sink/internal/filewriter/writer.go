package filewriter

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Footer key/value metadata keys (docs/parquet.md).
const (
	MetaStream        = "streamsafe.stream"
	MetaSchema        = "streamsafe.schema"
	MetaSchemaVersion = "streamsafe.schema_version"
	MetaFirstID       = "streamsafe.first_id"
	MetaLastID        = "streamsafe.last_id"
	MetaRows          = "streamsafe.rows"
	MetaWriter        = "streamsafe.writer"
)

// Dataset names what a Writer writes.
type Dataset struct {
	Dir    string // the stream's directory: <data dir>/<stream>
	Stream string // stream name in the footer, e.g. "decisions"
	Schema string // schema name in the footer, e.g. "decision"
	Writer string // writer name in the footer, e.g. "sink/1"
}

// Limits bound a file (and so the memory of its buffered rows).
type Limits struct {
	RowGroupRows int           // rows per row group
	FileRows     int           // a file is full at this many rows
	FileBytes    int64         // ... or at this many estimated row bytes
	FileAge      time.Duration // ... or when its first row was buffered this long ago
}

// Validate reports a non-positive limit.
func (l Limits) Validate() error {
	if l.RowGroupRows <= 0 || l.FileRows <= 0 || l.FileBytes <= 0 || l.FileAge <= 0 {
		return fmt.Errorf("file limits must be positive: %+v", l)
	}
	return nil
}

// Commit describes a committed file.
type Commit struct {
	Path  string   // final path
	Rows  int      // rows in the file
	Bytes int64    // file size
	IDs   []string // entry IDs of the rows, in order (to acknowledge)
	Dur   time.Duration
}

// chunkRows is the number of rows per buffered chunk: rows are kept in
// chunks (no large slice to grow and copy) and each full chunk is handed to
// the encoder goroutine.
const chunkRows = 1024

// Writer buffers one stream's rows and commits them to Parquet files. Full
// chunks of rows are encoded into the file's temporary name by a goroutine
// while more rows arrive (so decoding and encoding use two cores); the rows
// stay in memory until the commit succeeds, so a failed commit can be
// retried. It is not safe for concurrent use.
type Writer[T any] struct {
	ds  Dataset
	lim Limits

	chunks  [][]T // full chunks, in order
	cur     []T   // the chunk being filled
	free    [][]T // recycled chunks
	n       int   // buffered rows
	ids     []string
	first   stream.ID
	last    stream.ID
	part    Partition
	version string
	bytes   int64
	opened  time.Time
	enc     *encoder[T] // nil before the first full chunk or after an encoder failure

	committed Ranges
	dirs      map[string]bool // partition directories known to exist (and be durable)
	fsyncDirs bool
}

// New returns a Writer of ds with limits lim.
func New[T any](ds Dataset, lim Limits) (*Writer[T], error) {
	if err := lim.Validate(); err != nil {
		return nil, err
	}
	if ds.Dir == "" || ds.Stream == "" || ds.Schema == "" {
		return nil, errors.New("filewriter: dataset needs a directory, a stream and a schema name")
	}
	return &Writer[T]{ds: ds, lim: lim, dirs: map[string]bool{}, fsyncDirs: true}, nil
}

// Recover prepares the stream directory after a start or a crash: it
// creates it if missing, removes temporary files (a crashed commit) and
// records the ranges of the committed files. It returns how many
// temporary files it removed.
func (w *Writer[T]) Recover() (removed int, err error) {
	if err := w.mkdirs(w.ds.Dir); err != nil {
		return 0, err
	}
	w.committed = Ranges{}
	err = filepath.WalkDir(w.ds.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		name := d.Name()
		if IsTmpName(name) {
			if err := os.Remove(path); err != nil {
				return fmt.Errorf("remove temporary file: %w", err)
			}
			removed++
			return nil
		}
		if first, last, ok := ParseFileName(name); ok {
			w.committed.Add(Range{First: first, Last: last, Path: path})
		}
		return nil
	})
	if err != nil {
		return removed, fmt.Errorf("recover %s: %w", w.ds.Dir, err)
	}
	return removed, nil
}

// Committed returns the committed ranges (recovered and written since).
func (w *Writer[T]) Committed() *Ranges { return &w.committed }

// Len returns the number of buffered rows.
func (w *Writer[T]) Len() int { return w.n }

// Bytes returns the estimated size of the buffered rows.
func (w *Writer[T]) Bytes() int64 { return w.bytes }

// Buffered reports whether id is within the buffered rows' ID range.
func (w *Writer[T]) Buffered(id stream.ID) bool {
	return w.n > 0 && id.Compare(w.first) >= 0 && id.Compare(w.last) <= 0
}

// Accepts reports whether a row with id and schema version can join the
// buffered rows: the buffer is empty, or id is past the last buffered ID,
// in the same partition, with the same schema version.
func (w *Writer[T]) Accepts(id stream.ID, version string) bool {
	if w.n == 0 {
		return true
	}
	return id.Compare(w.last) > 0 && version == w.version && PartitionOf(id) == w.part
}

// Append buffers row (entry rawID, parsed id, schema version, estimated
// size in bytes). The caller checks Accepts first.
func (w *Writer[T]) Append(id stream.ID, rawID string, row T, version string, size int) {
	if w.n == 0 {
		w.first, w.part, w.version, w.opened = id, PartitionOf(id), version, time.Now()
	}
	if w.cur == nil {
		w.cur = w.newChunk()
	}
	w.last = id
	w.cur = append(w.cur, row)
	w.n++
	w.ids = append(w.ids, rawID)
	w.bytes += int64(size)
	if len(w.cur) == chunkRows {
		w.flushChunk()
	}
}

func (w *Writer[T]) newChunk() []T {
	if k := len(w.free); k > 0 {
		c := w.free[k-1]
		w.free = w.free[:k-1]
		return c
	}
	return make([]T, 0, chunkRows)
}

// flushChunk moves the current chunk to the full ones and hands it to the
// encoder, starting one for a new file. An encoder that cannot start is
// not an error here: Commit then writes the file itself.
func (w *Writer[T]) flushChunk() {
	if len(w.cur) == 0 {
		return
	}
	c := w.cur
	w.chunks = append(w.chunks, c)
	w.cur = nil
	if w.enc == nil && len(w.chunks) == 1 {
		dir := w.part.Dir(w.ds.Dir)
		if err := w.mkdirs(dir); err == nil {
			w.enc, _ = startEncoder[T](filepath.Join(dir, tmpPrefix+w.first.String()+tmpSuffix), w.writerOptions(), w.fileMeta())
		}
	}
	if w.enc != nil {
		w.enc.ch <- c
	}
}

// Full reports whether the buffered rows reached a file limit (rows, bytes
// or age).
func (w *Writer[T]) Full(now time.Time) bool {
	if w.n == 0 {
		return false
	}
	return w.n >= w.lim.FileRows || w.bytes >= w.lim.FileBytes || now.Sub(w.opened) >= w.lim.FileAge
}

// Commit writes the buffered rows to a file with the commit protocol and
// empties the buffer. On error nothing is committed, no file remains under
// a final or temporary name (best effort for the temporary one) and the rows
// stay buffered: the next Commit writes them again.
func (w *Writer[T]) Commit() (Commit, error) {
	if w.n == 0 {
		return Commit{}, nil
	}
	start := time.Now()
	w.flushChunk()
	dir := w.part.Dir(w.ds.Dir)
	final := filepath.Join(dir, FileName(w.first, w.last))
	var tmp string
	var size int64
	var err error
	if w.enc != nil {
		// The encoder has every chunk: finish its file.
		enc := w.enc
		w.enc = nil
		tmp = enc.path
		size, err = enc.finish(w.lastMeta())
		if err != nil {
			_ = os.Remove(tmp)
		}
	}
	if w.enc == nil && (tmp == "" || err != nil) {
		// No encoder, or it failed: write the whole file here.
		if err := w.mkdirs(dir); err != nil {
			return Commit{}, err
		}
		tmp = filepath.Join(dir, tmpName(w.first, w.last))
		size, err = w.writeFile(tmp)
		if err != nil {
			_ = os.Remove(tmp)
			return Commit{}, err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		_ = os.Remove(tmp)
		return Commit{}, fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := w.syncDir(dir); err != nil {
		// The rename may or may not survive a crash; the file is complete
		// either way. Acking now could lose it on power loss, so fail: the
		// rows stay buffered, and the retry rewrites the same name.
		return Commit{}, err
	}
	c := Commit{Path: final, Rows: w.n, Bytes: size, IDs: w.ids, Dur: time.Since(start)}
	w.committed.Add(Range{First: w.first, Last: w.last, Path: final})
	var zero T
	for _, ch := range w.chunks {
		for i := range ch {
			ch[i] = zero // drop references for the GC
		}
		w.free = append(w.free, ch[:0])
	}
	w.chunks = w.chunks[:0]
	w.n = 0
	w.ids = nil // handed to the caller
	w.bytes = 0
	return c, nil
}

// Abort stops the encoder and removes its temporary file, keeping the
// rows buffered (for a Writer that is being dropped).
func (w *Writer[T]) Abort() {
	if w.enc != nil {
		w.enc.abort()
		w.enc = nil
	}
}

// writerOptions are the options of a new Parquet writer. zstd's fastest
// level: the encoder is on the sink's critical path, and the files are
// read far less often than they are written.
func (w *Writer[T]) writerOptions() []parquet.WriterOption {
	return []parquet.WriterOption{
		parquet.Compression(&zstd.Codec{Level: zstd.SpeedFastest}),
		parquet.MaxRowsPerRowGroup(int64(w.lim.RowGroupRows)),
		parquet.CreatedBy("streamsafe-sink", w.ds.Writer, ""),
	}
}

// fileMeta returns the footer values known when a file starts (lastMeta
// adds the others).
func (w *Writer[T]) fileMeta() [][2]string {
	return [][2]string{
		{MetaStream, w.ds.Stream}, {MetaSchema, w.ds.Schema}, {MetaSchemaVersion, w.version},
		{MetaFirstID, w.first.String()}, {MetaWriter, w.ds.Writer},
	}
}

// lastMeta returns the footer values known only when the file is complete.
func (w *Writer[T]) lastMeta() [][2]string {
	return [][2]string{{MetaLastID, w.last.String()}, {MetaRows, strconv.Itoa(w.n)}}
}

// writeFile writes every buffered row to path, closes the Parquet writer
// (footer), flushes, fsyncs and closes the file, returning its size.
func (w *Writer[T]) writeFile(path string) (int64, error) {
	e, err := startEncoder[T](path, w.writerOptions(), w.fileMeta())
	if err != nil {
		return 0, err
	}
	for _, c := range w.chunks {
		e.ch <- c
	}
	return e.finish(w.lastMeta())
}

// mkdirs creates dir and fsyncs the parents of every directory it created,
// so that the new directory entries survive a crash.
func (w *Writer[T]) mkdirs(dir string) error {
	if w.dirs[dir] {
		return nil
	}
	var created []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		created = append(created, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create directory: %w", err)
	}
	for _, d := range created {
		if err := w.syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	w.dirs[dir] = true
	return nil
}

func (w *Writer[T]) syncDir(dir string) error {
	if !w.fsyncDirs {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
