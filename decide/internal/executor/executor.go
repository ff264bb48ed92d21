package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// Sentinel errors. Results carry their text in the error field.
var (
	ErrQueueFull      = errors.New("executor: queue full")
	ErrClosed         = errors.New("executor: closed")
	ErrNotDrained     = errors.New("executor: queue not drained before the deadline")
	ErrInvalidRequest = errors.New("executor: invalid request")
	// ErrNoMessageID refuses a DELETE without a message id: Helix would
	// clear the whole chat.
	ErrNoMessageID = errors.New("executor: delete without message id")
)

// Helix limits on request fields.
const (
	maxReasonRunes   = 500
	maxTimeoutS      = 1_209_600 // two weeks
	maxIDBytes       = 64
	loggedErrorBytes = 300
)

// Submitter is what the decision path needs from the executor.
type Submitter interface {
	// Submit hands req over without waiting for it to execute; false means
	// it was dropped (queue full or closed).
	Submit(ctx context.Context, req Request) bool
}

var _ Submitter = (*Pool)(nil)

// Request is one action decided for one chat message.
type Request struct {
	DecisionID    string       // id of the decision (decisions stream)
	MsgID         string       // Twitch message id (PRIVMSG id tag); required, it keys idempotency and DELETE
	BroadcasterID string       // room id (broadcaster_id)
	Channel       string       // channel login without '#', for logs
	UserID        string       // author's user id (user_id of warn/timeout)
	Login         string       // author's login, for logs
	Action        event.Action // WARN, DELETE or TIMEOUT with DurationS; IGNORE is accepted and skipped
	Reason        string       // sent to Twitch; empty means Config.DefaultReason; cut to 500 characters
	DecidedAt     time.Time    // when decide chose the action (zero = unknown)

	scheduled bool // the Pool booked the first attempt's per-channel slot
}

// Status is the outcome of one request.
type Status uint8

// Statuses, as written to the status field of the executions stream.
const (
	StatusSuccess                Status = iota // Twitch accepted the action (2xx); attempts > 1 means it was retried
	StatusAlready                              // 400 "user is already banned": the wanted state already holds
	StatusFailed                               // permanent 4xx, retries exhausted, or deadline passed
	StatusDuplicate                            // idempotency key existed: this (msg id, kind) was already executed or tried
	StatusDropped                              // Submit found the queue full
	StatusInvalid                              // refused before any call (e.g. DELETE without message id)
	StatusIdempotencyUnavailable               // Redis did not answer the idempotency claim; not acted
	StatusCanceled                             // the pool closed before the request ran
	StatusDryRun                               // dry-run backend: logged and recorded, nothing sent
	numStatuses
)

var statusNames = [numStatuses]string{
	"success", "already", "failed", "duplicate", "dropped", "invalid",
	"idempotency_unavailable", "canceled", "dry_run",
}

func (s Status) String() string {
	if s < numStatuses {
		return statusNames[s]
	}
	return fmt.Sprintf("Status(%d)", uint8(s))
}

// Outcome is what a Backend reports for one request.
type Outcome struct {
	Status     Status
	HTTPStatus int   // last HTTP status, 0 when no response was received
	Attempts   int   // HTTP attempts made
	Err        error // nil on success
}

// Backend executes one validated, claimed request. Execute must return when
// ctx is done.
type Backend interface {
	Execute(ctx context.Context, req *Request) Outcome
}

// Pool is the asynchronous executor: a bounded queue drained by workers that
// validate, de-duplicate and execute requests through a Backend. Create it
// with New or NewPool; stop it with Close.
type Pool struct {
	cfg     Config
	backend Backend
	idem    *idempotency
	results *resultWriter
	m       *poolMetrics
	log     *slog.Logger
	now     func() time.Time
	drops   *logging.Sampler
	fails   *logging.Sampler

	baseCtx    context.Context
	cancelBase context.CancelFunc
	wg         sync.WaitGroup
	canceled   atomic.Int64

	// mu guards closed and the send side of queue: Submit sends under the
	// read lock, Close closes the channel under the write lock.
	mu     sync.RWMutex
	closed bool
	queue  chan job
	work   chan job // claimed jobs, from the claimer to the workers
}

type job struct {
	req      Request
	enqueued time.Time
	// Set by the claimer.
	prepErr  error     // invalid request
	claimErr error     // idempotency store unavailable
	claimed  bool      // this pool set the idempotency key
	deadline time.Time // RequestTimeout after the claim
}

// maxClaimBatch bounds the requests claimed in one pipelined round trip.
const maxClaimBatch = 64

// New validates nothing (call cfg.Validate first), builds the backend that
// cfg.EffectiveMode selects and starts the pool. rdb holds the idempotency
// keys and the executions stream; metrics go to reg.
func New(cfg Config, rdb redis.Cmdable, reg prometheus.Registerer, log *slog.Logger) (*Pool, error) {
	var b Backend
	switch cfg.EffectiveMode() {
	case ModeHelix:
		h, err := NewHelix(cfg.HelixConfig, nil, reg, log)
		if err != nil {
			return nil, err
		}
		b = h
	case ModeDryRun:
		b = NewDryRun(log)
	default:
		return nil, fmt.Errorf("create executor: unknown mode %q", cfg.Mode)
	}
	return NewPool(cfg, b, rdb, reg, log)
}

// NewPool starts cfg.Workers workers executing through b.
func NewPool(cfg Config, b Backend, rdb redis.Cmdable, reg prometheus.Registerer, log *slog.Logger) (*Pool, error) {
	if b == nil || rdb == nil {
		return nil, fmt.Errorf("create executor: %w: backend and redis client are required", ErrInvalidRequest)
	}
	if cfg.QueueSize < 1 || cfg.Workers < 1 || cfg.RequestTimeout <= 0 || cfg.ResultsBuffer < 1 || cfg.ResultsBatch < 1 || cfg.IdempotencyTTL <= 0 {
		return nil, fmt.Errorf("create executor: config not validated (queue %d, workers %d, timeout %s)", cfg.QueueSize, cfg.Workers, cfg.RequestTimeout)
	}
	if cfg.ResultsStream == "" {
		return nil, fmt.Errorf("create executor: empty results stream key")
	}
	if cfg.DefaultReason == "" {
		cfg.DefaultReason = DefaultReason
	}
	if log == nil {
		log = logging.Discard()
	}
	log = log.With(logging.KeyComponent, "executor")
	p := &Pool{
		cfg:     cfg,
		backend: b,
		idem:    &idempotency{rdb: rdb, prefix: cfg.IdempotencyPrefix, ttl: cfg.IdempotencyTTL},
		log:     log,
		now:     time.Now,
		drops:   logging.NewSampler(5, 10*time.Second),
		fails:   logging.NewSampler(20, 10*time.Second),
		queue:   make(chan job, cfg.QueueSize),
		work:    make(chan job, cfg.Workers),
	}
	m, err := newPoolMetrics(reg, func() float64 { return float64(len(p.queue)) }, cfg.QueueSize)
	if err != nil {
		return nil, err
	}
	p.m = m
	p.results = newResultWriter(rdb, cfg.ResultsStream, cfg.ResultsMaxLen, cfg.ResultsBuffer, cfg.ResultsBatch, m, log)
	p.baseCtx, p.cancelBase = context.WithCancel(context.Background())
	p.wg.Add(cfg.Workers + 1)
	go p.claimer()
	for range cfg.Workers {
		go p.worker()
	}
	return p, nil
}

// Submit queues req and returns at once, without allocating. When the queue
// is full it returns false, counts the drop and records a StatusDropped
// result; after Close it returns false and counts it in
// submit_after_close_total. An IGNORE action is accepted and skipped. ctx is not retained: the
// request runs under the pool's own deadline, so a caller's batch context
// ending does not cancel it.
func (p *Pool) Submit(ctx context.Context, req Request) bool {
	if req.Action.Kind == event.Ignore {
		return true
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		p.m.closedDrops.Inc()
		return false
	}
	select {
	case p.queue <- job{req: req, enqueued: p.now()}:
		p.mu.RUnlock()
		return true
	default:
		p.mu.RUnlock()
		p.drop(ctx, &req)
		return false
	}
}

// drop is off the fast path: it records the dropped request.
func (p *Pool) drop(ctx context.Context, req *Request) {
	now := p.now()
	r := Result{
		DecisionID: req.DecisionID, MsgID: req.MsgID, RoomID: req.BroadcasterID, UserID: req.UserID,
		Action: req.Action, Status: StatusDropped, Err: ErrQueueFull.Error(), ExecutedAt: now,
	}
	p.m.observe(&r)
	p.results.add(r)
	if ok, suppressed := p.drops.Allow(now); ok {
		p.log.LogAttrs(ctx, slog.LevelWarn, "action dropped: queue full",
			slog.String(logging.KeyMsgID, req.MsgID), slog.String(logging.KeyChannel, req.Channel),
			slog.String(keyAction, req.Action.String()), slog.Int(keyQueueSize, p.cfg.QueueSize),
			slog.Int64(keySuppressed, suppressed))
	}
}

// Len returns the number of queued requests.
func (p *Pool) Len() int { return len(p.queue) }

// Close stops accepting requests and waits until the queue is drained or ctx
// is done. On the deadline it cancels the running requests; everything still
// queued is recorded as StatusCanceled, and the returned error (wrapping
// ErrNotDrained) says how many requests did not run. Close then flushes the
// results to the stream. It is safe to call more than once.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.queue)
	p.mu.Unlock()

	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancelBase()
		<-done // workers now record the rest as canceled without calling out
	}
	p.cancelBase()

	// Flush results even when ctx is already done, but not forever.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	flushErr := p.results.close(fctx)
	if n := p.canceled.Load(); n > 0 {
		return errors.Join(fmt.Errorf("close executor: %d requests canceled: %w", n, ErrNotDrained), flushErr)
	}
	return flushErr
}

// claimer takes the queued requests in batches (whatever is queued, up to
// maxClaimBatch), validates them, claims their idempotency keys in ONE
// pipelined round trip and hands them to the workers, which keep the
// concurrency of the calls out at Workers.
func (p *Pool) claimer() {
	defer p.wg.Done()
	defer close(p.work)
	batch := make([]job, 0, maxClaimBatch)
	for first := range p.queue {
		batch = append(batch[:0], first)
	more:
		for len(batch) < maxClaimBatch {
			select {
			case j, ok := <-p.queue:
				if !ok {
					break more
				}
				batch = append(batch, j)
			default:
				break more
			}
		}
		p.claimAll(batch)
		for i := range batch {
			p.work <- batch[i]
		}
		clear(batch)
	}
}

// claimAll validates the batch and claims the valid requests' keys.
func (p *Pool) claimAll(batch []job) {
	if p.baseCtx.Err() != nil {
		return // closing on a deadline: the workers record them as canceled
	}
	var claims []*job
	for i := range batch {
		j := &batch[i]
		if j.prepErr = p.prepare(&j.req); j.prepErr == nil {
			claims = append(claims, j)
		}
	}
	if len(claims) == 0 {
		return
	}
	deadline := p.now().Add(p.cfg.RequestTimeout)
	ctx, cancel := context.WithDeadline(p.baseCtx, deadline)
	defer cancel()
	ok, err := p.idem.claimAll(ctx, claims)
	for i, j := range claims {
		j.deadline = deadline
		j.claimErr = err
		j.claimed = err == nil && ok[i]
	}
}

func (p *Pool) worker() {
	defer p.wg.Done()
	for j := range p.work {
		p.run(&j)
	}
}

// run executes one claimed job and records its result.
func (p *Pool) run(j *job) {
	req := &j.req
	r := Result{
		DecisionID: req.DecisionID, MsgID: req.MsgID, RoomID: req.BroadcasterID, UserID: req.UserID,
		Action: req.Action,
	}
	switch {
	case p.baseCtx.Err() != nil:
		r.Status, r.Err = StatusCanceled, ErrClosed.Error()
		p.canceled.Add(1)
	case j.prepErr != nil:
		r.Status, r.Err = StatusInvalid, j.prepErr.Error()
	case j.claimErr != nil:
		r.Status, r.Err = StatusIdempotencyUnavailable, j.claimErr.Error()
	case !j.claimed:
		r.Status = StatusDuplicate
	default:
		ctx, cancel := context.WithDeadline(p.baseCtx, j.deadline)
		if s, ok := p.backend.(scheduler); ok {
			wait, err := s.schedule(req, j.deadline)
			if err != nil {
				r.Status, r.Err = StatusFailed, err.Error()
				cancel()
				break
			}
			if wait > 0 {
				// Wait for the slot without holding a worker, so one
				// channel's burst does not delay the others.
				p.wg.Add(1)
				go p.delayed(ctx, cancel, j, r, wait)
				return
			}
		}
		p.execute(ctx, req, &r)
		cancel()
	}
	p.finish(j, &r)
}

// delayed executes j after wait (or as soon as ctx ends, to record why).
func (p *Pool) delayed(ctx context.Context, cancel context.CancelFunc, j *job, r Result, wait time.Duration) {
	defer p.wg.Done()
	defer cancel()
	t := time.NewTimer(wait)
	select {
	case <-t.C:
	case <-ctx.Done():
		t.Stop()
	}
	if p.baseCtx.Err() != nil {
		r.Status, r.Err = StatusCanceled, ErrClosed.Error()
		p.canceled.Add(1)
	} else {
		p.execute(ctx, &j.req, &r)
	}
	p.finish(j, &r)
}

// execute calls the backend and copies its outcome into r.
func (p *Pool) execute(ctx context.Context, req *Request, r *Result) {
	out := p.backend.Execute(ctx, req)
	r.Status, r.HTTPStatus, r.Attempts = out.Status, out.HTTPStatus, out.Attempts
	if out.Err != nil {
		r.Err = truncate(out.Err.Error(), loggedErrorBytes)
	}
}

// finish records a result: metrics, log, executions stream.
func (p *Pool) finish(j *job, r *Result) {
	req := &j.req
	r.ExecutedAt = p.now()
	r.Latency = r.ExecutedAt.Sub(j.enqueued)
	if !req.DecidedAt.IsZero() {
		p.m.sinceDecision.Observe(r.ExecutedAt.Sub(req.DecidedAt).Seconds())
	}
	p.m.observe(r)
	p.logResult(req, r)
	p.results.add(*r)
}

// scheduler is implemented by backends with per-key limits (Helix's
// per-channel ban limit). The Pool books the first attempt's slot before
// Execute and waits for it off the worker; Execute then skips that booking
// (req.scheduled).
type scheduler interface {
	schedule(req *Request, deadline time.Time) (time.Duration, error)
}

// prepare validates req and fills in the default reason.
func (p *Pool) prepare(req *Request) error {
	if err := validate(req); err != nil {
		return err
	}
	if req.Reason == "" {
		req.Reason = p.cfg.DefaultReason
	}
	req.Reason = cutRunes(req.Reason, maxReasonRunes)
	return nil
}

// validate checks what Helix needs, refusing requests that would do more
// than intended: a DELETE without a message id clears the whole chat, and a
// ban without a duration is permanent.
func validate(req *Request) error {
	if !validID(req.MsgID) {
		if req.Action.Kind == event.Delete {
			return ErrNoMessageID
		}
		return fmt.Errorf("%w: msg id %q", ErrInvalidRequest, req.MsgID)
	}
	if !validID(req.BroadcasterID) {
		return fmt.Errorf("%w: broadcaster id %q", ErrInvalidRequest, req.BroadcasterID)
	}
	switch req.Action.Kind {
	case event.Delete:
	case event.Warn:
		if !validID(req.UserID) {
			return fmt.Errorf("%w: user id %q", ErrInvalidRequest, req.UserID)
		}
	case event.Timeout:
		if !validID(req.UserID) {
			return fmt.Errorf("%w: user id %q", ErrInvalidRequest, req.UserID)
		}
		if req.UserID == req.BroadcasterID {
			return fmt.Errorf("%w: cannot time out the broadcaster", ErrInvalidRequest)
		}
		if d := req.Action.DurationS; d < 1 || d > maxTimeoutS {
			return fmt.Errorf("%w: timeout %d s not in 1..%d", ErrInvalidRequest, d, maxTimeoutS)
		}
	default:
		return fmt.Errorf("%w: action %s", ErrInvalidRequest, req.Action)
	}
	return nil
}

// validID accepts the ids Twitch uses (digits, UUIDs): short, printable,
// nothing that needs escaping in a URL or a Redis key.
func validID(s string) bool {
	if s == "" || len(s) > maxIDBytes {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func cutRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// Log attribute keys of this package.
const (
	keyAction     = "action"
	keyStatus     = "status"
	keyHTTPStatus = "http_status"
	keyAttempts   = "attempts"
	keyLatencyUs  = "latency_us"
	keyDecisionID = "decision_id"
	keyUserID     = "user_id"
	keyRoomID     = "room_id"
	keyQueueSize  = "queue_size"
	keySuppressed = "suppressed"
	keyWait       = "wait"
	keyBucket     = "bucket"
)

func (p *Pool) logResult(req *Request, r *Result) {
	level := slog.LevelDebug
	switch r.Status {
	case StatusFailed, StatusIdempotencyUnavailable, StatusInvalid:
		level = slog.LevelWarn
		if ok, _ := p.fails.Allow(r.ExecutedAt); !ok {
			level = slog.LevelDebug
		}
	}
	if !p.log.Enabled(p.baseCtx, level) {
		return
	}
	p.log.LogAttrs(context.Background(), level, "action executed",
		slog.String(keyDecisionID, r.DecisionID),
		slog.String(logging.KeyMsgID, r.MsgID),
		slog.String(logging.KeyChannel, req.Channel),
		slog.String(keyRoomID, r.RoomID),
		slog.String(keyUserID, r.UserID),
		slog.String(keyAction, r.Action.String()),
		slog.String(keyStatus, r.Status.String()),
		slog.Int(keyHTTPStatus, r.HTTPStatus),
		slog.Int(keyAttempts, r.Attempts),
		slog.Int64(keyLatencyUs, r.Latency.Microseconds()),
		slog.String(logging.KeyError, r.Err),
	)
}

// idempotency claims (msg id, action kind) keys in Redis.
type idempotency struct {
	rdb    redis.Cmdable
	prefix string
	ttl    time.Duration
}

// key returns "<prefix><msg id>:<KIND>", e.g. "streamsafe:idem:3c92...:TIMEOUT".
func (i *idempotency) key(req *Request) string {
	return i.prefix + req.MsgID + ":" + req.Action.Kind.String()
}

// claimAll sets each job's key if it is absent, in one pipelined round
// trip, and reports for each whether this call set it. The value is the
// decision id, to trace which decision acted. Any failure fails them all
// (none is executed; a key that was set keeps a retry from acting twice).
func (i *idempotency) claimAll(ctx context.Context, jobs []*job) ([]bool, error) {
	pipe := i.rdb.Pipeline()
	cmds := make([]*redis.BoolCmd, len(jobs))
	for k, j := range jobs {
		v := j.req.DecisionID
		if v == "" {
			v = "1"
		}
		cmds[k] = pipe.SetNX(ctx, i.key(&j.req), v, i.ttl)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, fmt.Errorf("claim %d idempotency keys: %w", len(jobs), err)
	}
	ok := make([]bool, len(jobs))
	for k, c := range cmds {
		ok[k] = c.Val()
	}
	return ok, nil
}
