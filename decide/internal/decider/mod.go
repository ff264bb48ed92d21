package decider

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/streamsafe-rl/streamsafe/decide/internal/featurestore"
	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
	"github.com/streamsafe-rl/streamsafe/shared/stream"
)

// ModStore is what ModHandler needs of the feature store.
type ModStore interface {
	ApplyMod(ctx context.Context, evs []featurestore.ModEvent) (int, error)
}

var _ ModStore = (*featurestore.Store)(nil)

// ModHandler applies mod-stream events (human moderator actions, raids) to
// the feature store: one round trip per batch, each event once per entry id.
// Undecodable entries are dead-lettered; a feature-store failure retries the
// batch in place (stream.Retry), so an outage delays the history updates
// without dead-lettering them.
type ModHandler struct {
	store ModStore
	log   *slog.Logger
	m     *Metrics
	bad   *logging.Sampler
}

var _ stream.Handler = (*ModHandler)(nil)

// NewModHandler returns a ModHandler.
func NewModHandler(store ModStore, log *slog.Logger, m *Metrics) *ModHandler {
	if m == nil {
		m = NewMetrics(nil)
	}
	if log == nil {
		log = logging.Discard()
	}
	return &ModHandler{store: store, log: log, m: m, bad: logging.NewSampler(5, time.Second)}
}

// HandleBatch implements stream.Handler.
func (h *ModHandler) HandleBatch(ctx context.Context, b *stream.Batch) error {
	evs := make([]featurestore.ModEvent, 0, len(b.Msgs))
	for i := range b.Msgs {
		x := &b.Msgs[i]
		e, err := event.DecodeMod(x.Values)
		if err != nil {
			b.Reject(i, event.FailureBadInput+": "+err.Error())
			if ok, n := h.bad.Allow(time.Now()); ok {
				h.log.LogAttrs(ctx, slog.LevelWarn, "undecodable mod entry",
					slog.String(logging.KeyStreamID, x.ID), logging.Err(err), slog.Int64("suppressed", n))
			}
			continue
		}
		// The same clock as chat messages (EventTimeMs): far-future times
		// are distrusted, since histories are bucketed by time.
		ts := eventClockMs(e.TmiSentTsMs, e.ReceivedAtUs, b.ReadAt.UnixMilli())
		evs = append(evs, featurestore.ModEvent{
			EntryID: x.ID, Kind: e.Kind, Channel: e.Channel, TargetUserID: e.TargetUserID,
			TargetLogin: e.TargetLogin, TargetMsgID: e.TargetMsgID, TsMs: ts,
		})
	}
	if len(evs) == 0 {
		return nil
	}
	if _, err := h.store.ApplyMod(ctx, evs); err != nil {
		h.m.modErrors.Inc()
		return stream.Retry(fmt.Errorf("apply %d mod events: %w", len(evs), err))
	}
	for _, e := range evs {
		h.m.modEvents.WithLabelValues(string(e.Kind)).Inc()
	}
	return nil
}
