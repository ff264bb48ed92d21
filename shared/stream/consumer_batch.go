package stream

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Source says how the entries of a Batch reached the consumer.
type Source uint8

// Batch sources.
const (
	SourceNew     Source = iota // first delivery (XREADGROUP ">")
	SourcePending               // this consumer's own pending entries, re-read (XREADGROUP "0"/cursor)
	SourceClaimed               // taken over from an idle consumer (XAUTOCLAIM)
)

var sourceNames = [...]string{SourceNew: "new", SourcePending: "pending", SourceClaimed: "claimed"}

// String returns "new", "pending" or "claimed".
func (s Source) String() string {
	if int(s) < len(sourceNames) {
		return sourceNames[s]
	}
	return "unknown"
}

// Handler processes one batch of stream entries. See Batch for how a handler
// settles (acknowledges) the entries.
type Handler interface {
	HandleBatch(ctx context.Context, b *Batch) error
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, b *Batch) error

// HandleBatch calls f.
func (f HandlerFunc) HandleBatch(ctx context.Context, b *Batch) error { return f(ctx, b) }

// Batch is one read's worth of entries handed to a Handler. Msgs are in the
// order Redis returned them; none has a nil payload (the consumer acks and
// counts entries trimmed while pending before calling the handler) and none has
// been delivered more than ConsumerConfig.MaxDeliveries times (those were
// dead-lettered).
//
// A handler ends a batch in one of three ways:
//
//   - It returns nil without calling Settle or Keep: the consumer acks every
//     entry (and dead-letters the Rejected ones) in one MULTI/EXEC.
//   - It calls Settle(tx) on a MULTI pipeline of its own that also holds its
//     output (decide: XADD of every decision + XACK of the inputs in one
//     MULTI/EXEC), executes it, and returns nil.
//   - It calls Keep and later acks with Consumer.Ack itself (sink: after the
//     file holding the entries was fsynced). Kept entries stay pending; keep
//     ConsumerConfig.MinIdle above the longest time an entry may be kept, or
//     another consumer takes it over.
//
// Returning an error settles nothing: the entries stay pending, the worker
// backs off and then re-reads its own pending entries from the failed batch's
// first ID on, which increments their delivery counts, so a batch that fails
// every time is eventually dead-lettered. An error wrapped with Retry (an
// outage of something the handler writes to, not a problem with the entries)
// instead retries the same batch in place after a backoff, without counting
// a delivery, until it succeeds or the consumer stops; the entries then stay
// pending and are re-read at the next start.
type Batch struct {
	Stream   string
	Group    string
	Consumer string
	Source   Source
	ReadAt   time.Time // when the read returned
	// Attempt counts the in-place attempts at this batch (1, then 2, ...
	// after a Retry error). A handler whose earlier attempt may have
	// written and acked part of the batch (a timeout after the MULTI/EXEC
	// was sent) checks StillPending when Attempt > 1.
	Attempt int

	Msgs []redis.XMessage
	// Deliveries[i] is how many times Msgs[i] has been delivered, this
	// delivery included (1 for SourceNew).
	Deliveries []int64
	// Fields[i] are the field/value pairs of Msgs[i] (name, value, ...)
	// when the consumer has FlatFields; Msgs[i].Values may then be nil.
	Fields [][]string

	c       *Consumer
	rejects []reject
	settled bool // Settle was called
	kept    bool // Keep was called
}

type reject struct {
	i      int
	reason string
}

// Reject marks Msgs[i] to be moved to the dead-letter stream, with reason,
// when the batch is settled. Out-of-range indexes are ignored.
func (b *Batch) Reject(i int, reason string) {
	if i < 0 || i >= len(b.Msgs) {
		return
	}
	b.rejects = append(b.rejects, reject{i: i, reason: reason})
}

// Rejected returns the number of entries marked by Reject.
func (b *Batch) Rejected() int { return len(b.rejects) }

// Settle queues on p, which should be a MULTI pipeline (TxPipeline) so that
// it is atomic with whatever else the handler queued there, an XADD to the
// dead-letter stream for every rejected entry and one XACK of every entry of
// the batch. The caller executes p.
func (b *Batch) Settle(p redis.Pipeliner) {
	b.settled = true
	if len(b.Msgs) == 0 {
		return
	}
	ctx := context.Background()
	now := time.Now()
	for _, r := range b.rejects {
		dl := b.deadLetter(r, now)
		p.XAdd(ctx, b.c.deadLetterArgs(&dl))
	}
	ids := make([]string, len(b.Msgs))
	for i := range b.Msgs {
		ids[i] = b.Msgs[i].ID
	}
	p.XAck(ctx, b.Stream, b.Group, ids...)
}

// SettleRaw is Settle for a RawConn round trip: it queues on c (inside a
// MULTI the caller opened and will EXEC) an XADD to the dead-letter stream
// for every rejected entry and, last, one XACK of every entry of the batch.
func (b *Batch) SettleRaw(c *RawConn) {
	b.settled = true
	if len(b.Msgs) == 0 {
		return
	}
	now := time.Now()
	for _, r := range b.rejects {
		dl := b.deadLetter(r, now)
		vals := dl.Values(nil)
		c.XAdd(b.c.cfg.DeadLetter, b.c.cfg.DeadLetterMaxLen, len(vals))
		for _, v := range vals {
			c.ArgAny(v)
		}
	}
	c.Cmd(3 + len(b.Msgs))
	c.Arg("XACK")
	c.Arg(b.Stream)
	c.Arg(b.Group)
	for i := range b.Msgs {
		c.Arg(b.Msgs[i].ID)
	}
}

// deadLetter is the dead letter of rejected entry r, dead at now.
func (b *Batch) deadLetter(r reject, now time.Time) DeadLetter {
	return DeadLetter{
		SrcStream: b.Stream, SrcID: b.Msgs[r.i].ID, Group: b.Group, Consumer: b.Consumer,
		Reason: r.reason, Deliveries: b.Deliveries[r.i], DeadAtUs: now.UnixMicro(), Payload: valuesOf(b, r.i),
	}
}

// StillPending reports, for each of Msgs, whether it is still pending for
// this consumer (not acked by an earlier attempt whose reply was lost).
func (b *Batch) StillPending(ctx context.Context) ([]bool, error) {
	counts, err := b.c.pendingOf(ctx, b.Consumer, b.Msgs)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(b.Msgs))
	for i, m := range b.Msgs {
		_, out[i] = counts[m.ID]
	}
	return out, nil
}

// reset clears what a failed attempt recorded, before a retry.
func (b *Batch) reset() {
	b.Attempt++
	b.rejects = b.rejects[:0]
	b.settled, b.kept = false, false
}

// Keep tells the consumer that the handler owns the acknowledgement of the
// batch and will call Consumer.Ack later for every entry it did not Reject.
// Rejected entries are dead-lettered and acked by the consumer when the
// handler returns nil.
func (b *Batch) Keep() { b.kept = true }

// rejectedOnly returns a batch of just the rejected entries (nil if none).
func (b *Batch) rejectedOnly() *Batch {
	if len(b.rejects) == 0 {
		return nil
	}
	rb := &Batch{Stream: b.Stream, Group: b.Group, Consumer: b.Consumer, Source: b.Source, ReadAt: b.ReadAt, Attempt: b.Attempt, c: b.c}
	seen := make(map[int]bool, len(b.rejects))
	for _, r := range b.rejects {
		if seen[r.i] {
			continue
		}
		seen[r.i] = true
		rb.Msgs = append(rb.Msgs, b.Msgs[r.i])
		rb.Deliveries = append(rb.Deliveries, b.Deliveries[r.i])
		if b.Fields != nil {
			rb.Fields = append(rb.Fields, b.Fields[r.i])
		}
		rb.rejects = append(rb.rejects, reject{i: len(rb.Msgs) - 1, reason: r.reason})
	}
	return rb
}

// retryError marks a handler error as transient.
type retryError struct{ err error }

func (e *retryError) Error() string { return e.err.Error() }
func (e *retryError) Unwrap() error { return e.err }

// Retry wraps err so that the consumer retries the batch in place (see
// Batch). Retry(nil) is nil.
func Retry(err error) error {
	if err == nil {
		return nil
	}
	return &retryError{err: err}
}

// IsRetry reports whether err was wrapped with Retry.
func IsRetry(err error) bool {
	var r *retryError
	return errors.As(err, &r)
}
