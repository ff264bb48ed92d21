package decider

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/streamsafe-rl/streamsafe/decide/internal/executor"
	"github.com/streamsafe-rl/streamsafe/decide/internal/features"
	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// Defaults of Config.
const (
	DefaultBudget        = 50 * time.Millisecond
	DefaultWriteTimeout  = 2 * time.Second
	DefaultMaxPendingSys = 10_000
)

// Store is what the decider needs of the feature store
// (*featurestore.Store).
type Store interface {
	SnapshotsSys(ctx context.Context, msgs []featurestore.Msg, out []features.Snapshot, acts []featurestore.SysAction) error
	ApplySys(ctx context.Context, acts []featurestore.SysAction) (int, error)
}

var _ Store = (*featurestore.Store)(nil)

// Config configures a Decider.
type Config struct {
	DecisionsStream string        // where decisions are written
	DecisionsMaxLen int64         // XADD MAXLEN ~ of the decisions stream; 0 = no trimming
	Budget          time.Duration // latency budget of a decision path, from read to clamp
	WriteTimeout    time.Duration // timeout of the MULTI/EXEC that writes a batch
	MaxPendingSys   int           // executed actions kept for the store while it is down
	// StoreConcurrency caps the batches in a feature-store round trip at
	// once (0: no cap). With more workers than this, the others compute
	// and write their batches meanwhile: writes overlap the store's work
	// without queueing more calls inside the store, where they would eat
	// into each other's timeout.
	StoreConcurrency int
}

// Deps are the Decider's collaborators.
type Deps struct {
	Core  *Core
	Store Store
	// Bus names the stream bus. Decisions are written and inputs acked
	// there over connections of the Decider's own (stream.RawConn), the
	// RESP encoded straight into one buffer. Close the Decider to close
	// them.
	Bus      *redis.Options
	Executor executor.Submitter // nil: decisions are logged, never executed
	Allow    *features.LinkAllowList
	Terms    *features.BlockedTerms
	Log      *slog.Logger
	Metrics  *Metrics
	Now      func() time.Time // nil: time.Now
}

// Decider decides every chat message of a batch (a stream.Handler):
//
//  1. decode each entry (undecodable entries with a msg_id are decided
//     IGNORE with failure_reason bad_input; without one they are
//     dead-lettered), compute its message features;
//  2. one feature-store round trip for the whole batch (on error or timeout:
//     zero snapshots, failure_reason feature_store_*, decision IGNORE);
//  3. per message: state vector, risk score, policy action, clamp and
//     exploration (Core), with the batch's earlier executed actions on the
//     same user overlaid on the snapshot; hand non-IGNORE actions to the
//     executor (asynchronous);
//  4. one MULTI/EXEC: XADD of every decision + XACK of the batch (and
//     XADD of its dead letters);
//  5. record the executed actions in the feature store: a second round
//     trip, made after the write so it adds nothing to the decision
//     latency (the clamp's choice cannot be known inside the first one).
//     While RunSys runs, the batch only hands them over: the next batch's
//     feature-store call takes them along (applied before its messages, in
//     the same round trip), and RunSys records those no batch took within
//     20 ms; no worker waits for them. Otherwise the batch records them
//     itself. The batch's later messages by the same user already see the
//     actions through an in-memory overlay on their snapshots (logged, so
//     replay agrees); other workers see them from the next store read after
//     they were recorded. On failure they are kept
//     (at most MaxPendingSys) and retried; each action counts once per msg
//     id.
//
// A failed write is retried in place (stream.Retry): the feature store
// returns the cached snapshots for the retried messages, so the decisions
// (and their ids) come out identical and the executor's idempotency keys
// absorb the repeated submits.
type Decider struct {
	cfg      Config
	deps     Deps
	now      func() time.Time
	log      *slog.Logger
	m        *Metrics
	bad      *logging.Sampler // warnings about bad input and store failures
	acted    *logging.Sampler // info lines about actions taken
	pool     sync.Pool
	sysMu    sync.Mutex
	sysBuf   []featurestore.SysAction // guarded by sysMu: actions not yet recorded in the store
	sysAsync bool                     // guarded by sysMu: RunSys records them
	sysKick  chan struct{}            // wakes RunSys
	// sysHandoff is how long RunSys leaves handed-over actions for the next
	// batch to take along (defaultSysHandoff).
	sysHandoff time.Duration
	// storeSem holds a token per batch in a feature-store round trip
	// (Config.StoreConcurrency); nil: no cap.
	storeSem chan struct{}
	// raws are idle RawConns to Deps.Bus (one per worker in use).
	raws chan *stream.RawConn
}

var _ stream.Handler = (*Decider)(nil)

// New returns a Decider.
func New(cfg Config, deps Deps) (*Decider, error) {
	if deps.Core == nil || deps.Core.Policy == nil || deps.Core.Clamp == nil || deps.Store == nil || deps.Bus == nil {
		return nil, errors.New("create decider: core (policy, clamp), store and bus are required")
	}
	if cfg.DecisionsStream == "" {
		return nil, errors.New("create decider: decisions stream is required")
	}
	if cfg.Budget <= 0 {
		cfg.Budget = DefaultBudget
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MaxPendingSys <= 0 {
		cfg.MaxPendingSys = DefaultMaxPendingSys
	}
	d := &Decider{cfg: cfg, deps: deps, now: deps.Now, log: deps.Log, m: deps.Metrics, bad: logging.NewSampler(5, time.Second), acted: logging.NewSampler(20, time.Second)}
	if d.now == nil {
		d.now = time.Now
	}
	if d.log == nil {
		d.log = logging.Discard()
	}
	if d.m == nil {
		d.m = NewMetrics(nil)
	}
	d.pool.New = func() any { return new(scratch) }
	d.sysKick = make(chan struct{}, 1)
	d.sysHandoff = defaultSysHandoff
	if cfg.StoreConcurrency > 0 {
		d.storeSem = make(chan struct{}, cfg.StoreConcurrency)
	}
	d.raws = make(chan *stream.RawConn, 64)
	return d, nil
}

// Close closes the idle connections of Deps.Bus. Call it once no batch
// is being handled.
func (d *Decider) Close() {
	for {
		select {
		case c := <-d.raws:
			c.Close()
		default:
			return
		}
	}
}

func (d *Decider) getRaw() *stream.RawConn {
	select {
	case c := <-d.raws:
		return c
	default:
		return stream.NewRawConn(d.deps.Bus)
	}
}

func (d *Decider) putRaw(c *stream.RawConn) {
	c.Reset()
	select {
	case d.raws <- c:
	default:
		c.Close()
	}
}

// item is one entry of the batch being decided.
type item struct {
	srcID     string
	chat      event.Chat
	bad       bool // undecodable: decided IGNORE, bad_input
	skip      bool // dead-lettered: no decision
	mf        [event.DecisionMsgFeatureLen]float64
	hash      uint64
	nowMs     int64
	decodeUs  int64
	featUs    int64
	storeSlot int // index in scratch.smsgs, -1 for bad items
}

// scratch is the reusable memory of one batch.
type scratch struct {
	items []item
	smsgs []featurestore.Msg
	snaps []features.Snapshot
	text  []byte
	reply []byte
	ch    []byte
	mf    []float64
	msg   features.Message
	vec   features.Vector
	dec   event.Decision
	sys   []featurestore.SysAction
	out   []decided
	val   event.DecisionValues // the decision being written
	fc    event.FloatCache     // formatted vector values, kept across batches
	reps  []stream.Reply       // replies of the transaction
}

// decided is what is left of a decision after it was queued for writing.
type decided struct {
	action      event.Action
	path        event.DecisionPath
	failure     string
	decidedAtUs int64
	tmiSentMs   int64
}

func (sc *scratch) reset(n int) {
	if cap(sc.items) < n {
		sc.items = make([]item, n)
	}
	sc.items = sc.items[:n]
	sc.smsgs = sc.smsgs[:0]
	sc.sys = sc.sys[:0]
	sc.out = sc.out[:0]
}

// release drops the batch's references (strings of its entries and
// decisions) before sc goes back to the pool.
func (sc *scratch) release() {
	clear(sc.items)
	clear(sc.smsgs)
	sc.val = event.DecisionValues{}
	sc.dec = event.Decision{Features: sc.dec.Features[:0], ClampRules: sc.dec.ClampRules[:0], MsgFeatures: sc.dec.MsgFeatures[:0]}
}

// HandleBatch implements stream.Handler.
func (d *Decider) HandleBatch(ctx context.Context, b *stream.Batch) error {
	sc := d.pool.Get().(*scratch)
	defer func() { sc.release(); d.pool.Put(sc) }()
	sc.reset(len(b.Msgs))
	readAt := b.ReadAt
	readAtMs := readAt.UnixMilli()

	// A retried batch may have been written by an attempt whose reply was
	// lost: decide only what is still pending, so nothing is written twice.
	var pending []bool
	if b.Attempt > 1 {
		p, err := b.StillPending(ctx)
		if err != nil {
			return stream.Retry(fmt.Errorf("check pending entries before retrying: %w", err))
		}
		pending = p
	}

	// 1. Decode and compute message features.
	for i := range b.Msgs {
		x := &b.Msgs[i]
		it := &sc.items[i]
		*it = item{srcID: x.ID, storeSlot: -1}
		if pending != nil && !pending[i] {
			it.skip = true // decided and acked by an earlier attempt
			continue
		}
		t0 := d.now()
		var c event.Chat
		var err error
		if b.Fields != nil { // the chat consumer's FlatFields
			c, err = event.DecodeChatFields(b.Fields[i])
		} else {
			c, err = event.DecodeChat(x.Values)
		}
		t1 := d.now()
		it.decodeUs = t1.Sub(t0).Microseconds()
		d.m.stage[stageDecode].Observe(t1.Sub(t0).Seconds())
		if err != nil {
			d.badInput(ctx, b, i, it, x, err)
			continue
		}
		it.chat = c
		it.nowMs = EventTimeMs(&c, readAtMs)
		sc.text = append(sc.text[:0], c.Text...)
		sc.reply = append(sc.reply[:0], c.ReplyParentDisplayName...)
		features.ComputeMessage(sc.text, c.EmoteCount, c.EmoteChars, c.ReplyParentMsgID != "", sc.reply, d.deps.Allow, d.deps.Terms, &sc.msg)
		sc.mf = PackMessage(&sc.msg, sc.mf[:0])
		copy(it.mf[:], sc.mf)
		it.hash = sc.msg.Hash
		t2 := d.now()
		it.featUs = t2.Sub(t1).Microseconds()
		d.m.stage[stageFeatures].Observe(t2.Sub(t1).Seconds())
		it.storeSlot = len(sc.smsgs)
		sc.smsgs = append(sc.smsgs, featurestore.Msg{Channel: c.Channel, UserID: c.UserID, Login: c.Login, MsgID: c.MsgID, TsMs: it.nowMs, Hash: it.hash})
	}

	// 2. One feature-store round trip.
	if cap(sc.snaps) < len(sc.smsgs) {
		sc.snaps = make([]features.Snapshot, len(sc.smsgs))
	}
	sc.snaps = sc.snaps[:len(sc.smsgs)]
	var storeFailure string
	var storeUs int64
	if len(sc.smsgs) > 0 {
		if d.storeSem != nil {
			t0 := d.now()
			select {
			case d.storeSem <- struct{}{}:
			case <-ctx.Done():
				return fmt.Errorf("wait for a feature-store slot: %w", ctx.Err()) // stopping: the batch stays pending
			}
			d.m.stage[stageStoreWait].Observe(d.now().Sub(t0).Seconds())
		}
		acts := d.takeSys()
		t0 := d.now()
		err := d.deps.Store.SnapshotsSys(ctx, sc.smsgs, sc.snaps, acts)
		el := d.now().Sub(t0)
		if d.storeSem != nil {
			<-d.storeSem
		}
		if err != nil {
			d.returnSys(acts)
		}
		storeUs = el.Microseconds()
		d.m.stage[stageStore].Observe(el.Seconds())
		if err != nil {
			storeFailure = event.FailureFeatureStoreError
			if featurestore.IsTimeout(err) {
				storeFailure = event.FailureFeatureStoreTimeout
			}
			clear(sc.snaps)
			if ok, n := d.bad.Allow(d.now()); ok {
				d.log.LogAttrs(ctx, slog.LevelWarn, "feature store failed, failing open",
					logging.Err(err), slog.String(logging.KeyFailureReason, storeFailure),
					slog.Int(logging.KeyCount, len(sc.smsgs)), slog.Int64("suppressed", n))
			}
		}
	}

	// 3. Decide every message; each XADD is encoded into the RawConn's
	// buffer at once.
	raw := d.getRaw()
	defer d.putRaw(raw)
	raw.Cmd(1)
	raw.Arg("MULTI")
	for i := range sc.items {
		it := &sc.items[i]
		if it.skip {
			continue
		}
		dec := d.decideOne(ctx, sc, it, b, readAt, storeFailure, storeUs)
		dec.EncodeWith(&sc.val, &sc.fc)
		raw.XAdd(d.cfg.DecisionsStream, d.cfg.DecisionsMaxLen, 2*event.DecisionFields)
		for k := range event.DecisionFields {
			name, v := sc.val.Field(k)
			raw.Arg(name)
			raw.Arg(v)
		}
	}

	// 4. One MULTI/EXEC: decisions + acks.
	t0 := d.now()
	wctx, cancel := context.WithTimeout(ctx, d.cfg.WriteTimeout)
	b.SettleRaw(raw)
	queued := raw.Queued() - 1 // after MULTI
	raw.Cmd(1)
	raw.Arg("EXEC")
	var err error
	sc.reps, err = raw.Do(wctx, d.cfg.WriteTimeout, sc.reps)
	outcome, err := writeOutcome(sc.reps, queued, err)
	cancel()
	writtenAt := d.now()
	d.m.stage[stageWrite].Observe(writtenAt.Sub(t0).Seconds())
	switch outcome {
	case writeFailed:
		d.m.writeErrors.Inc()
		d.recordSys(ctx, sc.sys) // the actions were submitted: record them anyway
		return stream.Retry(fmt.Errorf("write %d decisions: %w", len(sc.out), err))
	case writeNotAcked:
		// The decisions are in the stream but the XACK failed (the group
		// vanished). Retrying would write them twice; the consumer's
		// recovery re-reads whatever is still pending.
		d.m.writeErrors.Inc()
		d.log.LogAttrs(ctx, slog.LevelError, "decisions written but not acked",
			logging.Err(err), slog.Int(logging.KeyCount, len(sc.out)))
	case writeLost:
		// EXEC ran, the XACK succeeded and an XADD failed (the decisions
		// key holds another type): MULTI does not roll back, so these
		// decisions are lost. run refuses to start in that state.
		d.m.writeErrors.Inc()
		d.m.lost.Add(float64(len(sc.out)))
		d.log.LogAttrs(ctx, slog.LevelError, "decisions lost: XADD failed inside the transaction",
			logging.Err(err), slog.Int(logging.KeyCount, len(sc.out)))
	}

	// 5. Record executed actions in the feature store.
	d.recordSys(ctx, sc.sys)

	for _, o := range sc.out {
		d.m.decisions.WithLabelValues(o.action.String(), string(o.path)).Inc()
		d.m.latency.WithLabelValues(string(o.path)).Observe(writtenAt.Sub(readAt).Seconds())
		if o.tmiSentMs > 0 {
			d.m.eventLatency.Observe(float64(o.decidedAtUs-o.tmiSentMs*1000) / 1e6)
		}
		if o.failure != "" {
			d.m.failOpen.WithLabelValues(o.failure).Inc()
		}
	}
	if len(sc.out) > 0 {
		d.m.lastDecisionTs.Set(float64(writtenAt.UnixNano()) / 1e9)
	}
	return nil
}

// badInput handles an entry DecodeChat rejected: decided IGNORE when it has
// a msg_id, dead-lettered otherwise.
func (d *Decider) badInput(ctx context.Context, b *stream.Batch, i int, it *item, x *redis.XMessage, err error) {
	str := func(f string) string {
		if b.Fields != nil {
			pairs := b.Fields[i]
			for k := 0; k+1 < len(pairs); k += 2 {
				if pairs[k] == f {
					return pairs[k+1]
				}
			}
			return ""
		}
		s, _ := x.Values[f].(string)
		return s
	}
	if ok, n := d.bad.Allow(d.now()); ok {
		d.log.LogAttrs(ctx, slog.LevelWarn, "undecodable chat entry",
			slog.String(logging.KeyStreamID, x.ID), logging.Err(err), slog.Int64("suppressed", n))
	}
	msgID := str(event.FieldMsgID)
	if msgID == "" || len(msgID) > 256 {
		b.Reject(i, event.FailureBadInput+": "+err.Error())
		it.skip = true
		return
	}
	it.bad = true
	it.chat = event.Chat{MsgID: msgID, RoomID: str(event.FieldRoomID), Channel: str(event.FieldChannel),
		UserID: str(event.FieldUserID), Login: str(event.FieldLogin)}
}

// decideOne decides it into sc.dec and returns it.
func (d *Decider) decideOne(ctx context.Context, sc *scratch, it *item, b *stream.Batch, readAt time.Time, storeFailure string, storeUs int64) *event.Decision {
	c := &it.chat
	dec := &sc.dec
	*dec = event.Decision{Features: dec.Features[:0], ClampRules: dec.ClampRules[:0], MsgFeatures: dec.MsgFeatures[:0]}
	dec.DecisionID = event.DecisionID(it.srcID, c.MsgID)
	dec.SrcID, dec.MsgID, dec.RoomID, dec.Channel, dec.UserID, dec.Login = it.srcID, c.MsgID, c.RoomID, c.Channel, c.UserID, c.Login
	dec.TmiSentTsMs, dec.ReceivedAtUs, dec.ReadAtUs = c.TmiSentTsMs, c.ReceivedAtUs, readAt.UnixMicro()
	dec.Consumer = b.Consumer
	dec.LatDecodeUs = it.decodeUs

	if it.bad {
		dec.EventTimeMs = readAt.UnixMilli()
		dec.Path, dec.FailureReason = event.PathFailOpen, event.FailureBadInput
		dec.ActionSet, dec.ClampVersion = event.ActionSetVersion, d.deps.Core.ClampVersion
		dec.BehaviourProb, dec.Probs = 1, [event.NumDiscreteActions]float64{1}
		now := d.now()
		dec.DecidedAtUs = now.UnixMicro()
		dec.LatTotalUs = now.Sub(readAt).Microseconds()
		sc.out = append(sc.out, decided{action: dec.ActionFinal, path: dec.Path, failure: dec.FailureReason, decidedAtUs: dec.DecidedAtUs, tmiSentMs: c.TmiSentTsMs})
		return dec
	}

	in := Inputs{DecisionID: dec.DecisionID, NowMs: it.nowMs, Trust: TrustOf(c), FailureReason: storeFailure}
	sc.ch = append(sc.ch[:0], c.Channel...)
	in.Channel = sc.ch
	if storeFailure == "" {
		in.Snap = sc.snaps[it.storeSlot]
		overlay(&in.Snap, sc.sys, c.Channel, c.UserID)
	}
	_ = UnpackMessage(it.mf[:], it.hash, &sc.msg) // it.mf has the right length by construction
	in.Msg = &sc.msg

	t0 := d.now()
	s := d.deps.Core.Score(&in, &sc.vec)
	t1 := d.now()
	in.OverBudget = t1.Sub(readAt) > d.cfg.Budget
	d.deps.Core.Finish(&in, s, dec)
	t2 := d.now()
	d.m.stage[stageScore].Observe(t1.Sub(t0).Seconds())
	d.m.stage[stageClamp].Observe(t2.Sub(t1).Seconds())

	dec.EventTimeMs = it.nowMs
	tr := in.Trust
	dec.Broadcaster, dec.Moderator, dec.VIP, dec.Subscriber, dec.SubMonths = tr.Broadcaster, tr.Moderator, tr.VIP, tr.Subscriber, tr.SubMonths
	dec.FirstMsg, dec.ReturningChatter, dec.IsReply, dec.IsAction = tr.FirstMsg, tr.ReturningChatter, tr.IsReply, tr.IsAction
	dec.FeatureSet = features.SetVersion
	dec.Features = append(dec.Features, sc.vec[:]...)
	dec.MsgFeatures = append(dec.MsgFeatures, it.mf[:]...)
	dec.TextHash = it.hash
	featurestore.Pack(&in.Snap, &dec.Snapshot)
	dec.DecidedAtUs = t2.UnixMicro()
	dec.LatFeaturesUs, dec.LatStoreUs = it.featUs, storeUs
	dec.LatScoreUs, dec.LatClampUs = t1.Sub(t0).Microseconds(), t2.Sub(t1).Microseconds()
	dec.LatTotalUs = t2.Sub(readAt).Microseconds()
	if in.OverBudget {
		d.m.overBudget.Inc()
	}
	for _, r := range dec.ClampRules {
		d.m.clampRules.WithLabelValues(r).Inc()
	}

	if dec.ActionFinal.Kind != event.Ignore {
		submitted := true
		if d.deps.Executor != nil {
			submitted = d.deps.Executor.Submit(ctx, executor.Request{
				DecisionID: dec.DecisionID, MsgID: c.MsgID, BroadcasterID: c.RoomID, Channel: c.Channel,
				UserID: c.UserID, Login: c.Login, Action: dec.ActionFinal, DecidedAt: t2,
				Reason: "StreamSafe: risk " + strconv.FormatFloat(dec.RiskScore, 'f', 2, 64),
			})
		}
		if submitted {
			sc.sys = append(sc.sys, featurestore.SysAction{Channel: c.Channel, UserID: c.UserID, MsgID: c.MsgID, Kind: dec.ActionFinal.Kind, TsMs: it.nowMs})
		} else {
			d.m.execDropped.Inc()
		}
	}
	// Every decision at debug; actions at info, sampled so a raid cannot
	// flood the log.
	level := slog.LevelDebug
	var suppressed int64
	if dec.ActionFinal.Kind != event.Ignore {
		if ok, n := d.acted.Allow(t2); ok {
			level, suppressed = slog.LevelInfo, n
		}
	}
	if d.log.Enabled(ctx, level) {
		d.log.LogAttrs(ctx, level, "decided",
			slog.String(logging.KeyStreamID, it.srcID), slog.String(logging.KeyMsgID, c.MsgID),
			slog.String(logging.KeyChannel, c.Channel), slog.String("action", dec.ActionFinal.String()),
			slog.Float64("risk", dec.RiskScore), slog.String(logging.KeyDecisionPath, string(dec.Path)),
			slog.String(logging.KeyFailureReason, dec.FailureReason), slog.String("clamp_rules", strings.Join(dec.ClampRules, ",")),
			slog.Float64(logging.KeyLatencyMs, float64(dec.LatTotalUs)/1000), slog.Int64("suppressed", suppressed))
	}
	sc.out = append(sc.out, decided{action: dec.ActionFinal, path: dec.Path, failure: dec.FailureReason, decidedAtUs: dec.DecidedAtUs, tmiSentMs: c.TmiSentTsMs})
	return dec
}

// overlay adds this batch's earlier executed actions on (channel, user) to
// s, which the store read before any of them was recorded.
func overlay(s *features.Snapshot, acts []featurestore.SysAction, channel, user string) {
	for i := range acts {
		a := &acts[i]
		if a.UserID != user || a.Channel != channel {
			continue
		}
		switch a.Kind {
		case event.Warn:
			s.SysWarns++
			s.LastSysWarnMs = max(s.LastSysWarnMs, a.TsMs)
		case event.Delete:
			s.SysDeletes++
		case event.Timeout:
			s.SysTimeouts++
		}
		s.LastSysActionMs = max(s.LastSysActionMs, a.TsMs)
	}
}

// Outcomes of the MULTI/EXEC that writes a batch.
const (
	writeOK       = iota
	writeFailed   // nothing ran (or nothing can be known to have run): retry
	writeNotAcked // every XADD succeeded, the XACK did not
	writeLost     // the XACK succeeded, an XADD did not
)

// writeOutcome classifies the replies of the batch's MULTI, queued
// commands (XADDs, the XACK last), EXEC round trip and returns the error to
// report (nil for writeOK).
func writeOutcome(reps []stream.Reply, queued int, err error) (int, error) {
	if err != nil {
		return writeFailed, err // unknown whether EXEC ran: a retry checks what is still pending
	}
	// MULTI, queued x QUEUED, EXEC's array, its queued elements.
	if len(reps) != 2+2*queued && !(len(reps) == 2+queued && reps[1+queued].Err != nil) {
		return writeFailed, fmt.Errorf("transaction of %d commands: %d replies", queued, len(reps))
	}
	for _, r := range reps[:1+queued] { // MULTI and QUEUED: an error aborts the EXEC
		if r.Err != nil {
			return writeFailed, fmt.Errorf("queue transaction: %w", r.Err)
		}
	}
	exec := reps[1+queued]
	if exec.Err != nil {
		return writeFailed, fmt.Errorf("exec: %w", exec.Err)
	}
	if exec.Kind != '*' || exec.Int != int64(queued) {
		return writeFailed, fmt.Errorf("exec replied %c%d for %d commands", exec.Kind, exec.Int, queued)
	}
	var xaddErrs, xackOK int
	var first error
	for k, r := range reps[2+queued:] {
		if r.Err != nil && first == nil {
			first = r.Err
		}
		switch {
		case k < queued-1 && r.Err != nil:
			xaddErrs++
		case k == queued-1 && r.Err == nil:
			xackOK++
		}
	}
	switch {
	case first == nil:
		return writeOK, nil
	case xackOK > 0 && xaddErrs > 0:
		return writeLost, first
	case queued > 1 && xaddErrs == 0:
		return writeNotAcked, first
	}
	return writeFailed, first
}

// sysRetryDelay is how long RunSys waits after a failed store call before
// it tries again (new actions do not wake it sooner).
const sysRetryDelay = 100 * time.Millisecond

// defaultSysHandoff is how long RunSys leaves handed-over actions for the
// next batch to take along before it records them itself.
const defaultSysHandoff = 20 * time.Millisecond

// RunSys records the executed actions that batches hand over in the
// feature store, in the background, until ctx is done; then it stops
// taking actions (later batches record their own) and makes one last
// attempt within flushTimeout. Run it alongside the consumers and cancel it
// after they have stopped.
func (d *Decider) RunSys(ctx context.Context, flushTimeout time.Duration) {
	d.sysMu.Lock()
	d.sysAsync = true
	d.sysMu.Unlock()
	for {
		select {
		case <-ctx.Done():
			d.sysMu.Lock()
			d.sysAsync = false
			d.sysMu.Unlock()
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
			d.flushSys(fctx)
			cancel()
			return
		case <-d.sysKick:
		}
		select {
		case <-ctx.Done():
			continue // the final flush above
		case <-time.After(d.sysHandoff):
		}
		if !d.flushSys(ctx) {
			select {
			case <-ctx.Done():
			case <-time.After(sysRetryDelay):
			}
			d.kickSys()
		}
	}
}

func (d *Decider) kickSys() {
	select {
	case d.sysKick <- struct{}{}:
	default:
	}
}

// flushSys records every pending action in one call, without holding the
// lock meanwhile; on failure they go back in front of the newer ones. It
// reports whether nothing failed.
func (d *Decider) flushSys(ctx context.Context) bool {
	acts := d.takeSys()
	if len(acts) == 0 {
		return true
	}
	if err := d.applySys(ctx, acts); err != nil {
		d.returnSys(acts)
		return false
	}
	return true
}

// takeSys takes every pending action (for a batch's store call).
func (d *Decider) takeSys() []featurestore.SysAction {
	d.sysMu.Lock()
	defer d.sysMu.Unlock()
	acts := d.sysBuf
	d.sysBuf = nil
	if len(acts) > 0 {
		d.m.sysPending.Set(0)
	}
	return acts
}

// returnSys puts back actions a failed store call did not record, in
// front of the newer ones.
func (d *Decider) returnSys(acts []featurestore.SysAction) {
	if len(acts) == 0 {
		return
	}
	d.sysMu.Lock()
	d.sysBuf = d.keepSys(append(acts, d.sysBuf...))
	d.m.sysPending.Set(float64(len(d.sysBuf)))
	async := d.sysAsync
	d.sysMu.Unlock()
	if async {
		d.kickSys()
	}
}

// keepSys drops the oldest actions beyond MaxPendingSys.
func (d *Decider) keepSys(acts []featurestore.SysAction) []featurestore.SysAction {
	if over := len(acts) - d.cfg.MaxPendingSys; over > 0 {
		acts = append(acts[:0], acts[over:]...)
	}
	return acts
}

// applySys makes one store call, observing its duration and logging a
// (sampled) failure.
func (d *Decider) applySys(ctx context.Context, acts []featurestore.SysAction) error {
	t0 := d.now()
	_, err := d.deps.Store.ApplySys(ctx, acts)
	d.m.stage[stageSys].Observe(d.now().Sub(t0).Seconds())
	if err != nil {
		d.m.sysErrors.Inc()
		if ok, n := d.bad.Allow(d.now()); ok {
			d.log.LogAttrs(ctx, slog.LevelWarn, "recording executed actions in the feature store failed; kept for a retry",
				logging.Err(err), slog.Int(logging.KeyCount, len(acts)), slog.Int64("suppressed", n))
		}
	}
	return err
}

// recordSys hands executed actions to RunSys, or, when it does not run,
// records them (plus any kept from earlier failures) in the feature store;
// on failure they are kept for the next batch.
func (d *Decider) recordSys(ctx context.Context, acts []featurestore.SysAction) {
	d.sysMu.Lock()
	defer d.sysMu.Unlock()
	d.sysBuf = d.keepSys(append(d.sysBuf, acts...))
	if len(d.sysBuf) == 0 {
		return
	}
	if d.sysAsync {
		d.m.sysPending.Set(float64(len(d.sysBuf)))
		d.kickSys()
		return
	}
	if err := d.applySys(ctx, d.sysBuf); err != nil {
		d.m.sysPending.Set(float64(len(d.sysBuf)))
		return
	}
	d.sysBuf = d.sysBuf[:0]
	d.m.sysPending.Set(0)
}
