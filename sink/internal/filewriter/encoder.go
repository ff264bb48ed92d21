package filewriter

import (
	"bufio"
	"fmt"
	"os"

	"github.com/parquet-go/parquet-go"
)

// encoder writes chunks of rows to one Parquet file in its own goroutine.
type encoder[T any] struct {
	path string
	ch   chan []T
	done chan struct{}
	f    *os.File
	bw   *bufio.Writer
	pw   *parquet.GenericWriter[T]
	err  error // first write error; read after done is closed
}

// encoderQueue is how many chunks may wait for the encoder; Append blocks
// beyond that (the rows are still buffered, so memory stays bounded by the
// file limits either way).
const encoderQueue = 8

// startEncoder creates path and starts encoding the chunks sent to ch with
// a new Parquet writer (opts) whose footer gets meta. A writer is never
// reused across files: parquet-go's Reset leaves the column chunks of the
// next file without their path_in_schema (parquet-go issue #602), which
// readers such as Spark refuse.
func startEncoder[T any](path string, opts []parquet.WriterOption, meta [][2]string) (*encoder[T], error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", path, err)
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	pw := parquet.NewGenericWriter[T](bw, opts...)
	for _, kv := range meta {
		pw.SetKeyValueMetadata(kv[0], kv[1])
	}
	e := &encoder[T]{path: path, ch: make(chan []T, encoderQueue), done: make(chan struct{}), f: f, bw: bw, pw: pw}
	go e.loop()
	return e, nil
}

func (e *encoder[T]) loop() {
	defer close(e.done)
	for c := range e.ch {
		if e.err != nil {
			continue // drain
		}
		if _, err := e.pw.Write(c); err != nil {
			e.err = fmt.Errorf("write rows to %s: %w", e.path, err)
		}
	}
}

// finish waits for the queued chunks, sets the last footer values, closes
// the Parquet writer (footer), flushes, fsyncs and closes the file, and
// returns its size. On error the file is closed (the caller removes it).
func (e *encoder[T]) finish(meta [][2]string) (int64, error) {
	close(e.ch)
	<-e.done
	fail := func(err error) (int64, error) {
		_ = e.f.Close()
		return 0, err
	}
	if e.err != nil {
		return fail(e.err)
	}
	for _, kv := range meta {
		e.pw.SetKeyValueMetadata(kv[0], kv[1])
	}
	if err := e.pw.Close(); err != nil {
		return fail(fmt.Errorf("close parquet writer of %s: %w", e.path, err))
	}
	if err := e.bw.Flush(); err != nil {
		return fail(fmt.Errorf("write %s: %w", e.path, err))
	}
	if err := e.f.Sync(); err != nil {
		return fail(fmt.Errorf("fsync %s: %w", e.path, err))
	}
	st, err := e.f.Stat()
	if err != nil {
		return fail(fmt.Errorf("stat %s: %w", e.path, err))
	}
	if err := e.f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", e.path, err)
	}
	return st.Size(), nil
}

// abort stops the goroutine and removes the file.
func (e *encoder[T]) abort() {
	close(e.ch)
	<-e.done
	_ = e.f.Close()
	_ = os.Remove(e.path)
}
