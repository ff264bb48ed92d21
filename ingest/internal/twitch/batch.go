package twitch

import (
	"sync"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
)

// Batch limits: a reader hands a batch on when it holds this many lines or
// bytes, or when no more input is buffered.
const (
	MaxBatchLines = 128
	MaxBatchBytes = 64 << 10
)

// Batch is a group of chat and moderation lines read from one connection,
// copied into one buffer so that they cross a channel without a per-line
// allocation. Batches are pooled: the consumer calls Release when done.
type Batch struct {
	Conn       uint32    // id of the connection that read the lines
	ReceivedAt time.Time // when the first line was read

	buf  []byte
	ends []int
	cmds []irc.Command
}

var batchPool = sync.Pool{New: func() any {
	return &Batch{
		buf:  make([]byte, 0, 8<<10),
		ends: make([]int, 0, MaxBatchLines),
		cmds: make([]irc.Command, 0, MaxBatchLines),
	}
}}

// NewBatch returns an empty batch from the pool.
func NewBatch(conn uint32, at time.Time) *Batch {
	b := batchPool.Get().(*Batch)
	b.Conn, b.ReceivedAt = conn, at
	return b
}

// Add appends a copy of line with its command.
func (b *Batch) Add(line []byte, cmd irc.Command) {
	b.buf = append(b.buf, line...)
	b.ends = append(b.ends, len(b.buf))
	b.cmds = append(b.cmds, cmd)
}

// Len returns the number of lines.
func (b *Batch) Len() int { return len(b.ends) }

// Line returns line i. It aliases the batch buffer: it is valid until
// Release.
func (b *Batch) Line(i int) []byte {
	start := 0
	if i > 0 {
		start = b.ends[i-1]
	}
	return b.buf[start:b.ends[i]:b.ends[i]]
}

// Command returns the command of line i.
func (b *Batch) Command(i int) irc.Command { return b.cmds[i] }

// full reports whether the batch should be handed on now.
func (b *Batch) full() bool { return len(b.ends) >= MaxBatchLines || len(b.buf) >= MaxBatchBytes }

// Release returns the batch to the pool. The batch and every line obtained
// from it must not be used afterwards.
func (b *Batch) Release() {
	if cap(b.buf) > 4*MaxBatchBytes {
		return // let an unusually large buffer be collected
	}
	b.buf, b.ends, b.cmds = b.buf[:0], b.ends[:0], b.cmds[:0]
	batchPool.Put(b)
}
