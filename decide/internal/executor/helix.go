package executor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamsafe-rl/streamsafe/shared/event"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// HTTPError is a Helix answer that is neither a success nor retried: its
// status and the message of Twitch's error body.
type HTTPError struct {
	Status  int
	Message string
}

func (e *HTTPError) Error() string {
	return "helix answered " + strconv.Itoa(e.Status) + ": " + e.Message
}

// Helix executes requests against the Helix moderation endpoints: Ban User
// with a duration for TIMEOUT, Delete Chat Messages for DELETE and Warn Chat
// User for WARN. It is safe for concurrent use.
type Helix struct {
	base        string // without trailing '/'
	auth        string // "Bearer <token>"; never logged
	clientID    string // never logged
	moderatorID string
	cfg         HelixConfig
	hc          *http.Client
	lim         *limiter
	m           *helixMetrics
	log         *slog.Logger
	sleep       func(ctx context.Context, d time.Duration) error
	jitter      func(max time.Duration) time.Duration
}

var _ Backend = (*Helix)(nil)

// NewHelix returns a Helix backend. cfg must be validated and hold
// credentials. hc nil means a client with pooled keep-alive connections; its
// Timeout is not used (each attempt gets cfg.AttemptTimeout).
func NewHelix(cfg HelixConfig, hc *http.Client, reg prometheus.Registerer, log *slog.Logger) (*Helix, error) {
	if !cfg.hasCredentials() {
		return nil, fmt.Errorf("create helix client: token, client id and moderator id are required")
	}
	if cfg.MaxRetries < 0 || cfg.ChannelBanLimit < 1 || cfg.GlobalLimit < 1 || cfg.AttemptTimeout <= 0 || cfg.BackoffBase <= 0 {
		return nil, fmt.Errorf("create helix client: config not validated")
	}
	if hc == nil {
		hc = &http.Client{Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConnsPerHost: 16,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 5 * time.Second,
			ForceAttemptHTTP2:   true,
		}}
	}
	m, err := newHelixMetrics(reg)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = logging.Discard()
	}
	return &Helix{
		base:        strings.TrimRight(cfg.BaseURL, "/"),
		auth:        "Bearer " + cfg.Token.Reveal(),
		clientID:    cfg.ClientID.Reveal(),
		moderatorID: cfg.ModeratorID,
		cfg:         cfg,
		hc:          hc,
		lim:         newLimiter(cfg.ChannelBanLimit, cfg.ChannelBanWindow, cfg.GlobalLimit, cfg.GlobalWindow, time.Now),
		m:           m,
		log:         log.With(logging.KeyComponent, "helix"),
		sleep:       sleepCtx,
		jitter: func(max time.Duration) time.Duration {
			if max <= 0 {
				return 0
			}
			return rand.N(max)
		},
	}, nil
}

// call is one prepared Helix request.
type call struct {
	endpoint int
	method   string
	url      string
	body     []byte // nil for DELETE
}

type banBody struct {
	Data struct {
		UserID   string `json:"user_id"`
		Duration int32  `json:"duration"` // always set: a missing duration is a permanent ban
		Reason   string `json:"reason,omitempty"`
	} `json:"data"`
}

type warnBody struct {
	Data struct {
		UserID string `json:"user_id"`
		Reason string `json:"reason"`
	} `json:"data"`
}

// prepare builds the HTTP request for req, re-checking the invariants that
// make a call dangerous: DELETE without a message id, a ban without duration.
func (h *Helix) prepare(req *Request) (call, error) {
	if err := validate(req); err != nil {
		return call{}, err
	}
	q := "?broadcaster_id=" + url.QueryEscape(req.BroadcasterID) + "&moderator_id=" + url.QueryEscape(h.moderatorID)
	switch req.Action.Kind {
	case event.Timeout:
		var b banBody
		b.Data.UserID, b.Data.Duration, b.Data.Reason = req.UserID, req.Action.DurationS, cutRunes(req.Reason, maxReasonRunes)
		body, err := json.Marshal(&b)
		if err != nil {
			return call{}, fmt.Errorf("encode ban body: %w", err)
		}
		return call{endpointBan, http.MethodPost, h.base + "/moderation/bans" + q, body}, nil
	case event.Delete:
		if req.MsgID == "" {
			return call{}, ErrNoMessageID
		}
		return call{endpointDelete, http.MethodDelete, h.base + "/moderation/chat" + q + "&message_id=" + url.QueryEscape(req.MsgID), nil}, nil
	case event.Warn:
		var b warnBody
		b.Data.UserID, b.Data.Reason = req.UserID, cutRunes(req.Reason, maxReasonRunes)
		if b.Data.Reason == "" {
			b.Data.Reason = DefaultReason
		}
		body, err := json.Marshal(&b)
		if err != nil {
			return call{}, fmt.Errorf("encode warn body: %w", err)
		}
		return call{endpointWarn, http.MethodPost, h.base + "/moderation/warnings" + q, body}, nil
	}
	return call{}, fmt.Errorf("%w: action %s", ErrInvalidRequest, req.Action)
}

// Execute sends req, honouring the local rate limits and retrying 429, 5xx
// and network errors up to MaxRetries times.
func (h *Helix) Execute(ctx context.Context, req *Request) Outcome {
	c, err := h.prepare(req)
	if err != nil {
		return Outcome{Status: StatusInvalid, Err: err}
	}
	kind := int(req.Action.Kind)
	var out Outcome
	for attempt := 1; ; attempt++ {
		channelSlot := c.endpoint == endpointBan && (attempt > 1 || !req.scheduled)
		if err := h.throttle(ctx, channelSlot, req.BroadcasterID); err != nil {
			out.Status, out.Err = StatusFailed, fmt.Errorf("wait for rate limit: %w", err)
			return out
		}
		out.Attempts = attempt
		status, hdr, msg, err := h.do(ctx, &c)
		out.HTTPStatus = status
		var wait time.Duration
		var reason int
		switch {
		case err != nil:
			if ctx.Err() != nil {
				out.Status, out.Err = StatusFailed, fmt.Errorf("call helix %s: %w", endpointNames[c.endpoint], err)
				return out
			}
			reason, wait = retryNetwork, h.backoff(attempt)
			out.Err = fmt.Errorf("call helix %s: %w", endpointNames[c.endpoint], err)
		case status >= 200 && status < 300:
			out.Status, out.Err = StatusSuccess, nil
			return out
		case status == http.StatusBadRequest && c.endpoint == endpointBan && strings.Contains(strings.ToLower(msg), "already banned"):
			out.Status, out.Err = StatusAlready, nil
			return out
		case status == http.StatusTooManyRequests:
			reason = retry429
			out.Err = &HTTPError{Status: status, Message: msg}
			if _, reset, ok := h.lim.observe(hdr); ok {
				wait = max(time.Until(reset), 0) + h.jitter(h.cfg.RateLimitJitter)
			} else {
				wait = h.backoff(attempt)
			}
		case status >= 500:
			reason, wait = retry5xx, h.backoff(attempt)
			out.Err = &HTTPError{Status: status, Message: msg}
		default:
			out.Status, out.Err = StatusFailed, &HTTPError{Status: status, Message: msg}
			return out
		}
		if attempt > h.cfg.MaxRetries {
			out.Status = StatusFailed
			out.Err = fmt.Errorf("give up after %d attempts: %w", attempt, out.Err)
			return out
		}
		if dl, ok := ctx.Deadline(); ok && time.Now().Add(wait).After(dl) {
			out.Status = StatusFailed
			out.Err = fmt.Errorf("retry wait %s exceeds the request deadline: %w", wait.Round(time.Millisecond), out.Err)
			return out
		}
		h.m.retries[kind][reason].Inc()
		if reason == retry429 {
			h.m.waits[wait429].Inc()
			h.m.waitSeconds[wait429].Add(wait.Seconds())
		}
		h.log.LogAttrs(ctx, slog.LevelDebug, "retrying helix call",
			slog.String(logging.KeyMsgID, req.MsgID), slog.String(keyAction, req.Action.String()),
			slog.Int(logging.KeyAttempt, attempt), slog.Int(keyHTTPStatus, status),
			slog.Duration(keyWait, wait), logging.Err(out.Err))
		if err := h.sleep(ctx, wait); err != nil {
			out.Status = StatusFailed
			out.Err = fmt.Errorf("wait before retry: %w", errors.Join(err, out.Err))
			return out
		}
	}
}

// schedule books the per-channel slot of a timeout's first attempt; the
// Pool waits for it without holding a worker.
func (h *Helix) schedule(req *Request, deadline time.Time) (time.Duration, error) {
	if req.Action.Kind != event.Timeout {
		return 0, nil
	}
	w, ok := h.lim.reserveChannel(req.BroadcasterID, deadline)
	if !ok {
		h.m.waits[waitChannel].Inc()
		return 0, fmt.Errorf("wait for rate limit: %s bucket: %w (wait %s)", waitNames[waitChannel], errWaitPastDeadline, w.Round(time.Millisecond))
	}
	if w > 0 {
		h.m.waits[waitChannel].Inc()
		h.m.waitSeconds[waitChannel].Add(w.Seconds())
	}
	req.scheduled = true
	return w, nil
}

var _ scheduler = (*Helix)(nil)

// throttle waits for the per-channel (timeouts only, when channelSlot),
// global and header-seeded limits, in that order.
func (h *Helix) throttle(ctx context.Context, channelSlot bool, room string) error {
	dl, _ := ctx.Deadline()
	if channelSlot {
		w, ok := h.lim.reserveChannel(room, dl)
		if err := h.waitFor(ctx, waitChannel, w, ok); err != nil {
			return err
		}
	}
	w, ok := h.lim.reserveGlobal(dl)
	if err := h.waitFor(ctx, waitGlobal, w, ok); err != nil {
		return err
	}
	for {
		w := h.lim.reserveServer()
		if w <= 0 {
			return nil
		}
		w += h.jitter(h.cfg.RateLimitJitter)
		ok := dl.IsZero() || !time.Now().Add(w).After(dl)
		if err := h.waitFor(ctx, waitHeader, w, ok); err != nil {
			return err
		}
	}
}

func (h *Helix) waitFor(ctx context.Context, bucket int, w time.Duration, ok bool) error {
	if !ok {
		h.m.waits[bucket].Inc()
		return fmt.Errorf("%s bucket: %w (wait %s)", waitNames[bucket], errWaitPastDeadline, w.Round(time.Millisecond))
	}
	if w <= 0 {
		return nil
	}
	h.m.waits[bucket].Inc()
	h.m.waitSeconds[bucket].Add(w.Seconds())
	return h.sleep(ctx, w)
}

// backoff is exponential backoff with full jitter: a random duration in
// [0, min(BackoffMax, BackoffBase*2^(attempt-1))].
func (h *Helix) backoff(attempt int) time.Duration {
	d := h.cfg.BackoffBase << min(attempt-1, 20)
	if d > h.cfg.BackoffMax || d <= 0 {
		d = h.cfg.BackoffMax
	}
	return h.jitter(d)
}

// errorBody is Twitch's error JSON.
type errorBody struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

// do makes one HTTP attempt. It returns the status (0 on a transport error),
// the response headers and, for non-2xx answers, Twitch's error message.
func (h *Helix) do(ctx context.Context, c *call) (status int, hdr http.Header, msg string, err error) {
	actx, cancel := context.WithTimeout(ctx, h.cfg.AttemptTimeout)
	defer cancel()
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	hreq, err := http.NewRequestWithContext(actx, c.method, c.url, body)
	if err != nil {
		return 0, nil, "", fmt.Errorf("build request: %w", err)
	}
	hreq.Header.Set("Authorization", h.auth)
	hreq.Header.Set("Client-Id", h.clientID)
	if c.body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	start := time.Now()
	resp, err := h.hc.Do(hreq)
	h.m.duration[c.endpoint].Observe(time.Since(start).Seconds())
	if err != nil {
		h.m.requests.WithLabelValues(endpointNames[c.endpoint], "error").Inc()
		return 0, nil, "", err
	}
	defer resp.Body.Close()
	h.m.requests.WithLabelValues(endpointNames[c.endpoint], strconv.Itoa(resp.StatusCode)).Inc()
	if rem, _, ok := h.lim.observe(resp.Header); ok {
		h.m.remaining.Set(float64(rem))
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		var eb errorBody
		if json.Unmarshal(raw, &eb) == nil && eb.Message != "" {
			msg = eb.Message
		} else if eb.Error != "" {
			msg = eb.Error
		} else {
			msg = truncate(strings.TrimSpace(string(raw)), 200)
		}
	}
	return resp.StatusCode, resp.Header, msg, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
