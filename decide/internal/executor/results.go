package executor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// ResultSchemaVersion is the version of the executions stream layout
// (event.ExecutionSchemaVersion; schemas/execution.json).
const ResultSchemaVersion = event.ExecutionSchemaVersion

// Field names of an executions stream entry (the event.Field constants;
// event.Execution is the wire format).
const (
	FieldSchemaVersion = event.FieldSchemaVersion // "1"
	FieldDecisionID    = event.FieldDecisionID    // Request.DecisionID
	FieldMsgID         = event.FieldMsgID         // Twitch message id the action was decided for
	FieldRoomID        = event.FieldRoomID        // broadcaster (channel) user id
	FieldUserID        = event.FieldUserID        // actioned user id
	FieldAction        = event.FieldAction        // event.Action string: WARN, DELETE, TIMEOUT_600
	FieldStatus        = event.FieldStatus        // Status string: one of event.ExecutionStatuses
	FieldHTTPStatus    = event.FieldHTTPStatus    // last HTTP status, "0" when none
	FieldAttempts      = event.FieldAttempts      // HTTP attempts, "0" when none; > 1 means retried
	FieldLatencyUs     = event.FieldLatencyUs     // microseconds from Submit to the result (queue wait, rate-limit waits, retries)
	FieldError         = event.FieldError         // error text, "" on success
	FieldExecutedAtUs  = event.FieldExecutedAtUs  // when the result was known, Unix microseconds
)

// Result is the outcome of one request as written to the executions stream.
type Result struct {
	DecisionID string
	MsgID      string
	RoomID     string
	UserID     string
	Action     event.Action
	Status     Status
	HTTPStatus int
	Attempts   int
	Latency    time.Duration
	Err        string
	ExecutedAt time.Time
}

// execution returns r in its wire form.
func (r *Result) execution() event.Execution {
	return event.Execution{
		DecisionID:   r.DecisionID,
		MsgID:        r.MsgID,
		RoomID:       r.RoomID,
		UserID:       r.UserID,
		Action:       r.Action,
		Status:       r.Status.String(),
		HTTPStatus:   int32(r.HTTPStatus),
		Attempts:     int32(r.Attempts),
		LatencyUs:    r.Latency.Microseconds(),
		Error:        r.Err,
		ExecutedAtUs: r.ExecutedAt.UnixMicro(),
	}
}

// Values appends the stream entry's field/value pairs for r to dst:
// schema_version, decision_id, msg_id, room_id, user_id, action, status,
// http_status, attempts, latency_us, error, executed_at_us (see the Field
// constants and event.Execution.Values).
func (r *Result) Values(dst []any) []any {
	x := r.execution()
	return x.Values(dst)
}

// resultWriter writes results to the executions stream in pipelined
// batches from one goroutine. add never blocks: when the buffer is full the
// result is counted and dropped (it was logged and counted already).
type resultWriter struct {
	rdb    redis.Cmdable
	stream string
	maxLen int64
	batch  int
	m      *poolMetrics
	log    *slog.Logger

	in   chan Result
	stop chan struct{}
	done chan struct{}
	err  error // last write error seen at close, read after done
}

func newResultWriter(rdb redis.Cmdable, stream string, maxLen int64, buffer, batch int, m *poolMetrics, log *slog.Logger) *resultWriter {
	w := &resultWriter{
		rdb: rdb, stream: stream, maxLen: maxLen, batch: batch, m: m, log: log,
		in: make(chan Result, buffer), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

func (w *resultWriter) add(r Result) {
	select {
	case w.in <- r:
	default:
		w.m.resultsLost.Inc()
	}
}

func (w *resultWriter) loop() {
	defer close(w.done)
	batch := make([]Result, 0, w.batch)
	for {
		select {
		case r := <-w.in:
			batch = append(batch[:0], r)
			batch = w.fill(batch)
			if err := w.write(batch); err != nil {
				w.log.LogAttrs(context.Background(), slog.LevelWarn, "cannot write execution results",
					slog.Int(logging.KeyCount, len(batch)), slog.String(logging.KeyStream, w.stream), logging.Err(err))
			}
		case <-w.stop:
			// Write whatever is buffered, then exit.
			for {
				batch = w.fill(batch[:0])
				if len(batch) == 0 {
					return
				}
				if err := w.write(batch); err != nil {
					w.err = err
					return
				}
			}
		}
	}
}

// fill appends buffered results to batch without waiting, up to the batch size.
func (w *resultWriter) fill(batch []Result) []Result {
	for len(batch) < w.batch {
		select {
		case r := <-w.in:
			batch = append(batch, r)
		default:
			return batch
		}
	}
	return batch
}

// write XADDs batch in one pipeline.
func (w *resultWriter) write(batch []Result) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	pipe := w.rdb.Pipeline()
	for i := range batch {
		pipe.XAdd(ctx, &redis.XAddArgs{
			Stream: w.stream,
			MaxLen: w.maxLen,
			Approx: w.maxLen > 0,
			Values: batch[i].Values(make([]any, 0, 24)),
		})
	}
	_, err := pipe.Exec(ctx)
	if err != nil {
		w.m.resultsWriteErrors.Inc()
		w.m.resultsLost.Add(float64(len(batch)))
		return fmt.Errorf("write %d results to %s: %w", len(batch), w.stream, err)
	}
	w.m.resultsWritten.Add(float64(len(batch)))
	return nil
}

// close stops the loop after it wrote what is buffered, or when ctx ends.
func (w *resultWriter) close(ctx context.Context) error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return fmt.Errorf("flush execution results: %w", ctx.Err())
	}
}
