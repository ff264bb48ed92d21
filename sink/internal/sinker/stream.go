package sinker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
	"github.com/streamsafe-rl/streamsafe/sink/internal/filewriter"
)

// Decoder turns one stream entry (its field/value pairs) into a row. version is the event's schema
// version (rows of different versions never share a file); size estimates
// the row's in-memory bytes (for the file byte limit). An error means the
// entry is bad for good: it is dead-lettered with the error as reason.
type Decoder[T any] func(id string, fields []string) (row T, version string, size int, err error)

// Acker acknowledges entries (stream.Consumer.Ack).
type Acker interface {
	Ack(ctx context.Context, ids ...string) error
}

// ackChunk is the most IDs one XACK carries.
const ackChunk = 5000

// Stream sinks one stream. HandleBatch is its stream.Handler; Run commits
// aged files and retries failed acks; Close commits what is buffered.
type Stream[T any] struct {
	name  string
	w     *filewriter.Writer[T]
	dec   Decoder[T]
	acker Acker
	log   *slog.Logger
	m     *Metrics
	tick  time.Duration

	mu      sync.Mutex
	unacked []string     // committed entries whose XACK failed
	decoded []decoded[T] // per batch entry, reused
}

// decoded is one batch entry after ParseID and the Decoder.
type decoded[T any] struct {
	id      stream.ID
	idErr   error
	row     T
	version string
	size    int
	err     error
}

// parallelMin is the smallest batch decoded by more than one goroutine.
const parallelMin = 64

// decodeAll parses the IDs and decodes the entries of b into s.decoded,
// with up to GOMAXPROCS goroutines: decoding is the sink's largest CPU
// cost per row, and it needs nothing but the entry. Skipped entries are
// decoded too, which costs little: skips happen only after a restart.
func (s *Stream[T]) decodeAll(b *stream.Batch) {
	n := len(b.Msgs)
	if cap(s.decoded) < n {
		s.decoded = make([]decoded[T], n)
	}
	s.decoded = s.decoded[:n]
	one := func(i int) {
		d := &s.decoded[i]
		msg := &b.Msgs[i]
		d.id, d.idErr = stream.ParseID(msg.ID)
		if d.idErr != nil {
			return
		}
		d.row, d.version, d.size, d.err = s.dec(msg.ID, fieldsAt(b, i))
	}
	workers := min(runtime.GOMAXPROCS(0), n/parallelMin+1)
	if workers <= 1 {
		for i := range n {
			one(i)
		}
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for w := range workers {
		lo, hi := w*per, min((w+1)*per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				one(i)
			}
		})
	}
	wg.Wait()
}

// clearDecoded drops the references of the last batch's rows.
func (s *Stream[T]) clearDecoded() {
	clear(s.decoded)
}

// New returns the sink of stream name writing with w. Call SetAcker before
// the first batch and Recover before the consumer starts.
func New[T any](name string, w *filewriter.Writer[T], dec Decoder[T], log *slog.Logger, m *Metrics) *Stream[T] {
	m.init(name)
	return &Stream[T]{name: name, w: w, dec: dec, log: log, m: m, tick: time.Second}
}

// SetAcker sets who acknowledges committed entries (the consumer, which is
// created with this Stream as its handler).
func (s *Stream[T]) SetAcker(a Acker) { s.acker = a }

// Recover removes the temporary files of an interrupted run and loads the
// committed ranges (see filewriter.Writer.Recover).
func (s *Stream[T]) Recover() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, err := s.w.Recover()
	s.m.tmpRemoved.WithLabelValues(s.name).Add(float64(n))
	if err != nil {
		return err
	}
	s.log.Info("recovered stream directory", slog.Int("committed_files", s.w.Committed().Len()),
		slog.Int("tmp_removed", n), slog.String("committed_max_id", s.w.Committed().Max().String()))
	return nil
}

// HandleBatch implements stream.Handler: it keeps the batch (acks come
// after the commit), rejects bad entries and acks entries already
// committed. A commit failure returns a stream.Retry error: the consumer
// retries the batch in place after a backoff, and the buffered rows are
// committed first.
func (s *Stream[T]) HandleBatch(ctx context.Context, b *stream.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b.Keep()
	if err := s.flushAcks(ctx); err != nil {
		return stream.Retry(err)
	}
	if s.w.Full(time.Now()) {
		if err := s.commit(ctx); err != nil {
			return stream.Retry(err)
		}
	}
	s.decodeAll(b)
	var done []string // already committed: ack now
	for i := range b.Msgs {
		msg := &b.Msgs[i]
		d := &s.decoded[i]
		if d.idErr != nil {
			b.Reject(i, d.idErr.Error())
			s.m.rejected.WithLabelValues(s.name).Inc()
			continue
		}
		id := d.id
		if s.w.Buffered(id) {
			s.m.skipped.WithLabelValues(s.name, SkipBuffered).Inc()
			continue
		}
		if s.w.Committed().Contains(id) {
			// Only an entry delivered before (pending, or taken over) can
			// have been committed by an earlier run that crashed before
			// its XACK, or by an earlier attempt at this batch (a commit
			// failed mid-batch, and the retry committed the rows buffered
			// then). A first delivery inside a committed range means
			// the stream or the group was recreated (or the clock went
			// back): writing it again is loud (verify reports the
			// overlap), skipping it could lose it.
			if b.Source != stream.SourceNew || b.Attempt > 1 {
				s.m.skipped.WithLabelValues(s.name, SkipCommitted).Inc()
				done = append(done, msg.ID)
				continue
			}
			s.log.LogAttrs(ctx, slog.LevelError, "new entry inside the ID range of a committed file (stream or group recreated?); writing it",
				slog.String(logging.KeyStreamID, msg.ID))
		}
		row, version, size, err := d.row, d.version, d.size, d.err
		if err != nil {
			b.Reject(i, err.Error())
			s.m.rejected.WithLabelValues(s.name).Inc()
			s.log.LogAttrs(ctx, slog.LevelWarn, "dead-lettering invalid entry", slog.String(logging.KeyStreamID, msg.ID), logging.Err(err))
			continue
		}
		if !s.w.Accepts(id, version) {
			// Another hour, another schema version, or an entry older than
			// the buffered ones: it starts a new file.
			if err := s.commit(ctx); err != nil {
				return stream.Retry(err)
			}
		}
		s.w.Append(id, msg.ID, row, version, size)
		if s.w.Full(time.Now()) {
			if err := s.commit(ctx); err != nil {
				return stream.Retry(err)
			}
		}
	}
	s.clearDecoded()
	s.m.buffered.WithLabelValues(s.name).Set(float64(s.w.Len()))
	if len(done) > 0 {
		s.log.LogAttrs(ctx, slog.LevelInfo, "acknowledging entries committed by an earlier run",
			slog.Int(logging.KeyCount, len(done)), slog.String("first_id", done[0]))
		s.ack(ctx, done)
	}
	return nil
}

// commit commits the buffered rows and acknowledges them. Called with mu
// held.
func (s *Stream[T]) commit(ctx context.Context) error {
	if s.w.Len() == 0 {
		return nil
	}
	c, err := s.w.Commit()
	if err != nil {
		s.m.commitErrors.WithLabelValues(s.name).Inc()
		s.log.LogAttrs(ctx, slog.LevelError, "commit failed; rows stay buffered and pending, retrying",
			slog.Int("rows", s.w.Len()), logging.Err(err))
		return fmt.Errorf("commit %s file: %w", s.name, err)
	}
	s.m.rows.WithLabelValues(s.name).Add(float64(c.Rows))
	s.m.files.WithLabelValues(s.name).Inc()
	s.m.fileBytes.WithLabelValues(s.name).Add(float64(c.Bytes))
	s.m.commitDur.WithLabelValues(s.name).Observe(c.Dur.Seconds())
	s.m.lastCommit.WithLabelValues(s.name).SetToCurrentTime()
	s.m.buffered.WithLabelValues(s.name).Set(0)
	s.log.LogAttrs(ctx, slog.LevelDebug, "committed file", slog.String("path", c.Path), slog.Int("rows", c.Rows),
		slog.Int64("bytes", c.Bytes), slog.Duration("took", c.Dur))
	s.ack(ctx, c.IDs)
	return nil
}

// ack acknowledges ids in chunks; what fails is kept for flushAcks.
func (s *Stream[T]) ack(ctx context.Context, ids []string) {
	for len(ids) > 0 {
		n := min(len(ids), ackChunk)
		if err := s.acker.Ack(ctx, ids[:n]...); err != nil {
			s.m.ackErrors.WithLabelValues(s.name).Inc()
			s.log.LogAttrs(ctx, slog.LevelWarn, "ack of committed entries failed; retrying",
				slog.Int(logging.KeyCount, len(ids)), logging.Err(err))
			s.unacked = append(s.unacked, ids...)
			break
		}
		ids = ids[n:]
	}
	s.m.unacked.WithLabelValues(s.name).Set(float64(len(s.unacked)))
}

// flushAcks retries failed acks. Called with mu held.
func (s *Stream[T]) flushAcks(ctx context.Context) error {
	for len(s.unacked) > 0 {
		n := min(len(s.unacked), ackChunk)
		if err := s.acker.Ack(ctx, s.unacked[:n]...); err != nil {
			s.m.ackErrors.WithLabelValues(s.name).Inc()
			return fmt.Errorf("ack committed %s entries: %w", s.name, err)
		}
		s.unacked = s.unacked[n:]
		s.m.unacked.WithLabelValues(s.name).Set(float64(len(s.unacked)))
	}
	s.unacked = nil
	return nil
}

// Tick commits the buffered rows when they reached a limit (age, mostly)
// and retries failed acks.
func (s *Stream[T]) Tick(ctx context.Context, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushAcks(ctx); err != nil {
		s.log.LogAttrs(ctx, slog.LevelWarn, "retrying acks", logging.Err(err))
	}
	if s.w.Full(now) {
		_ = s.commit(ctx) // logged and counted; retried next tick
	}
}

// Run calls Tick every second until ctx is done.
func (s *Stream[T]) Run(ctx context.Context) {
	t := time.NewTicker(s.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			s.Tick(ctx, now)
		}
	}
}

// Close commits the buffered rows and acks them (call after the consumer
// stopped). Rows it cannot commit stay pending in Redis and are read again
// at the next start.
func (s *Stream[T]) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.commit(ctx)
	if ferr := s.flushAcks(ctx); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return err
}

// Buffered returns the number of buffered rows.
func (s *Stream[T]) Buffered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Len()
}

// fieldsAt returns the field/value pairs of entry i of b: Batch.Fields
// (the consumer's FlatFields), or its Values map flattened.
func fieldsAt(b *stream.Batch, i int) []string {
	if b.Fields != nil {
		return b.Fields[i]
	}
	vals := b.Msgs[i].Values
	out := make([]string, 0, 2*len(vals))
	for k, v := range vals {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		out = append(out, k, s)
	}
	return out
}

// Abort drops the buffered rows without committing them (their entries stay
// pending in Redis) and removes the temporary file being written: for a
// sink that lost its lease, whose entries another sink now owns.
func (s *Stream[T]) Abort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.w.Abort()
}
