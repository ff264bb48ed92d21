package executor

import (
	"context"
	"log/slog"
	"sync"

	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// dryRunKeep is how many recent requests DryRun remembers.
const dryRunKeep = 1024

// DryRun is the backend used when no Twitch credentials are configured: it
// logs (at debug) what it would do, remembers the last requests, and reports
// StatusDryRun. Requests still pass validation and the idempotency claim in
// the Pool, so the executions stream shows exactly what would have been sent.
type DryRun struct {
	log *slog.Logger

	// mu guards the fields below.
	mu    sync.Mutex
	ring  []Request
	next  int
	total int
}

var _ Backend = (*DryRun)(nil)

// NewDryRun returns a dry-run backend logging to log (nil discards).
func NewDryRun(log *slog.Logger) *DryRun {
	if log == nil {
		log = logging.Discard()
	}
	return &DryRun{log: log.With(logging.KeyComponent, "dryrun"), ring: make([]Request, 0, dryRunKeep)}
}

// Execute records req and reports StatusDryRun.
func (d *DryRun) Execute(ctx context.Context, req *Request) Outcome {
	if err := validate(req); err != nil {
		return Outcome{Status: StatusInvalid, Err: err}
	}
	d.log.LogAttrs(ctx, slog.LevelDebug, "dry run: would execute",
		slog.String(keyDecisionID, req.DecisionID), slog.String(logging.KeyMsgID, req.MsgID),
		slog.String(logging.KeyChannel, req.Channel), slog.String(keyUserID, req.UserID),
		slog.String(keyAction, req.Action.String()), slog.String(logging.KeyReason, req.Reason))
	d.mu.Lock()
	if len(d.ring) < dryRunKeep {
		d.ring = append(d.ring, *req)
	} else {
		d.ring[d.next] = *req
	}
	d.next = (d.next + 1) % dryRunKeep
	d.total++
	d.mu.Unlock()
	return Outcome{Status: StatusDryRun}
}

// Requests returns the last (up to 1024) requests, oldest first, and the
// total number executed.
func (d *DryRun) Requests() (recent []Request, total int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.ring) < dryRunKeep {
		return append([]Request(nil), d.ring...), d.total
	}
	out := make([]Request, 0, dryRunKeep)
	out = append(out, d.ring[d.next:]...)
	out = append(out, d.ring[:d.next]...)
	return out, d.total
}
