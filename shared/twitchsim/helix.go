package twitchsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// Helix simulation defaults.
const (
	DefaultHelixPointsPerMinute = 800              // Helix bucket per client id and user
	DefaultHelixChannelBans     = 100              // bans+unbans per channel per window (twitch4j's observation)
	DefaultHelixChannelWindow   = 30 * time.Second // window of DefaultHelixChannelBans
	DefaultHelixFaultReset      = time.Second      // Ratelimit-Reset of an injected 429 is now + this
	DefaultHelixMessageMaxAge   = 6 * time.Hour    // Delete Chat Messages refuses older messages
	helixMaxTimeoutS            = 1_209_600        // two weeks
	helixMaxReasonRunes         = 500
	helixMaxBodyBytes           = 64 << 10
)

// Development credentials of the simulated Helix API. The simulator guards
// no real data, so these are public: DevHelixConfig accepts them, and
// scripts/twitchsim uses them unless told otherwise.
const (
	DevHelixClientID = "streamsafe-sim"
	DevHelixToken    = "sim-token"
	// DevBotLogin is the login whose user id (BotUserID(DevBotLogin)) the
	// dev token belongs to: the same id the IRC side reports in
	// GLOBALUSERSTATE when a client logs in with that nick.
	DevBotLogin = "streamsafe_bot"
)

// HelixChat is the chat side of a moderation action: the IRC line Twitch
// sends (CLEARCHAT, CLEARMSG) and its effect on the simulated user (a
// timed-out user stops chatting; an unbanned one resumes). *Server
// implements it.
type HelixChat interface {
	ClearChat(o ClearChatOptions) (int, error)
	ClearMsg(channel, msgID string) (int, error)
	Unban(loginOrID string) bool
}

// HelixDirectory answers what the Helix simulation needs to know about
// generated messages and channels. *Server implements it. Without a
// directory, Delete accepts any message id and nothing is echoed into chat.
type HelixDirectory interface {
	// LookupMessage returns a recently generated message.
	LookupMessage(msgID string) (TruthRecord, bool)
	// ChannelByRoomID returns the channel name (without '#') of a room id.
	ChannelByRoomID(roomID string) (string, bool)
}

var (
	_ HelixChat      = (*Server)(nil)
	_ HelixDirectory = (*Server)(nil)
)

// HelixConfig configures a simulated Helix moderation API.
type HelixConfig struct {
	// ClientID is the only accepted Client-Id header value.
	ClientID string
	// Tokens maps each accepted bearer token to the user id it belongs to;
	// moderator_id must equal that id.
	Tokens map[string]string
	// Moderators lists, per broadcaster id, the user ids that moderate the
	// channel. Nil makes every token user a moderator everywhere. The
	// broadcaster may always act in its own channel.
	Moderators map[string][]string
	// PointsPerMinute is the Ratelimit-Limit bucket per token user: it holds
	// that many points, refills continuously over a minute, and each request
	// costs one.
	PointsPerMinute int
	// ChannelBanLimit bans and unbans per ChannelBanWindow per channel are
	// accepted; more answer 429 (0 disables the limit).
	ChannelBanLimit  int
	ChannelBanWindow time.Duration
	// FaultResetAfter sets Ratelimit-Reset on an injected 429.
	FaultResetAfter time.Duration
	// MessageMaxAge: older messages cannot be deleted (404).
	MessageMaxAge time.Duration
	// Seed drives Share faults, deterministically per request sequence.
	Seed uint64
	// Now is the clock (nil = time.Now).
	Now func() time.Time
	// Logger receives debug logs (nil discards).
	Logger *slog.Logger
}

// DefaultHelixConfig returns the Twitch-like limits; ClientID and Tokens
// must still be set (or use DevHelixConfig).
func DefaultHelixConfig() HelixConfig {
	return HelixConfig{
		PointsPerMinute:  DefaultHelixPointsPerMinute,
		ChannelBanLimit:  DefaultHelixChannelBans,
		ChannelBanWindow: DefaultHelixChannelWindow,
		FaultResetAfter:  DefaultHelixFaultReset,
		MessageMaxAge:    DefaultHelixMessageMaxAge,
		Seed:             1,
	}
}

// DevHelixConfig returns DefaultHelixConfig with ClientID DevHelixClientID
// and the single token DevHelixToken, which belongs to
// BotUserID(DevBotLogin).
func DevHelixConfig() HelixConfig {
	c := DefaultHelixConfig()
	c.ClientID = DevHelixClientID
	c.Tokens = map[string]string{DevHelixToken: BotUserID(DevBotLogin)}
	return c
}

// validate reports the first invalid field.
func (c *HelixConfig) validate() error {
	switch {
	case c.ClientID == "" || len(c.Tokens) == 0:
		return fmt.Errorf("%w: HelixConfig: ClientID and Tokens are required", ErrInvalidConfig)
	case c.PointsPerMinute < 1:
		return fmt.Errorf("%w: HelixConfig.PointsPerMinute must be >= 1, got %d", ErrInvalidConfig, c.PointsPerMinute)
	case c.ChannelBanLimit < 0 || (c.ChannelBanLimit > 0 && c.ChannelBanWindow <= 0):
		return fmt.Errorf("%w: HelixConfig.ChannelBanLimit/Window: limit must be >= 0 and window positive", ErrInvalidConfig)
	}
	for tok, id := range c.Tokens {
		if tok == "" || id == "" || strings.ContainsAny(tok, " \r\n") {
			return fmt.Errorf("%w: HelixConfig.Tokens: tokens and user ids must be non-empty, tokens without spaces", ErrInvalidConfig)
		}
	}
	return nil
}

// HelixFaults makes the simulation fail requests on purpose. Faults apply to
// authenticated requests, after the points bucket and before any state
// change, so a faulted request never acts.
type HelixFaults struct {
	// Status is 429 (answered with Ratelimit-Remaining 0 and a Reset
	// FaultResetAfter ahead) or a 5xx.
	Status int `json:"status"`
	// Count: the next Count requests answer Status.
	Count int `json:"count"`
	// Share: afterwards, this share (0..1) of requests answer Status.
	Share float64 `json:"share"`
}

// HelixAction is one action the simulation accepted.
type HelixAction struct {
	Kind          event.ModKind `json:"kind"` // timeout, ban, unban, untimeout, delete, warn or clear
	BroadcasterID string        `json:"broadcaster_id"`
	ModeratorID   string        `json:"moderator_id"` // token user for Helix calls, "" for simulated human moderators
	UserID        string        `json:"user_id"`      // target user (timeout, ban, unban, untimeout, warn; delete when known)
	MsgID         string        `json:"msg_id"`       // deleted message (delete)
	DurationS     int64         `json:"duration_s"`   // timeout length
	Reason        string        `json:"reason"`
	Human         bool          `json:"human"` // done by a simulated human moderator, not through Helix
	At            time.Time     `json:"at"`
}

// HelixStats counts requests by outcome.
type HelixStats struct {
	Requests       int64 `json:"requests"`        // all requests
	Accepted       int64 `json:"accepted"`        // 2xx
	Unauthorized   int64 `json:"unauthorized"`    // 401
	Forbidden      int64 `json:"forbidden"`       // 403
	BadRequest     int64 `json:"bad_request"`     // 400 (including "already banned", "not banned")
	NotFound       int64 `json:"not_found"`       // 404
	RateLimited    int64 `json:"rate_limited"`    // 429 from the points bucket
	ChannelLimited int64 `json:"channel_limited"` // 429 from the per-channel ban limit
	Faults         int64 `json:"faults"`          // injected faults answered
	ChatClears     int64 `json:"chat_clears"`     // DELETE /moderation/chat without message_id: the whole chat was cleared
}

// Helix is an http.Handler simulating the Helix moderation endpoints Ban
// User (POST /moderation/bans), Unban User (DELETE /moderation/bans), Delete
// Chat Messages (DELETE /moderation/chat) and Warn Chat User (POST
// /moderation/warnings), with or without a leading /helix. Status codes:
//
//   - 401: missing or unknown bearer token, missing or wrong Client-Id, or
//     moderator_id different from the token's user (as Twitch documents it);
//   - 403: moderator_id does not moderate broadcaster_id;
//   - 400: missing parameters, bad JSON, duration outside 1..1,209,600,
//     reason over 500 characters (warn: missing too), banning or warning the
//     broadcaster, banning a moderator, "user is already banned" (ban or
//     timeout of a banned user), "user is not banned" (unban),
//     deleting the broadcaster's or a moderator's message;
//   - 404: unknown, already deleted or too old message id;
//   - 429: points bucket empty, per-channel ban limit, or injected.
//
// Every authenticated answer carries Ratelimit-Limit, Ratelimit-Remaining
// and Ratelimit-Reset (Unix seconds when the bucket is full again). Accepted
// timeouts and bans are echoed into chat as CLEARCHAT, deletions as CLEARMSG,
// shaped like Twitch's; a DELETE without message_id clears the whole chat,
// as Twitch does, and is counted in HelixStats.ChatClears.
type Helix struct {
	cfg  HelixConfig
	chat HelixChat
	dir  HelixDirectory
	log  *slog.Logger
	now  func() time.Time
	mux  *http.ServeMux
	mods map[string]map[string]bool // broadcaster -> moderator ids (nil = all)

	// mu guards everything below.
	mu        sync.Mutex
	buckets   map[string]*hxBucket             // token user -> points
	chanBans  map[string][]time.Time           // broadcaster -> accepted ban/unban times in the window
	bans      map[string]map[string]hxBanState // broadcaster -> user -> ban
	deleted   map[string]bool
	faults    HelixFaults
	rng       uint64
	actions   []HelixAction
	stats     HelixStats
	observers []func(HelixAction)
}

type hxBucket struct {
	tokens float64
	at     time.Time
}

type hxBanState struct {
	permanent bool
	until     time.Time
}

func (b hxBanState) active(now time.Time) bool { return b.permanent || now.Before(b.until) }

// NewHelix returns a simulated Helix API acting on chat (nil: no chat
// effects) and consulting dir (nil: see HelixDirectory). Both are usually
// the same *Server.
func NewHelix(cfg HelixConfig, chat HelixChat, dir HelixDirectory) (*Helix, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.FaultResetAfter <= 0 {
		cfg.FaultResetAfter = DefaultHelixFaultReset
	}
	if cfg.MessageMaxAge <= 0 {
		cfg.MessageMaxAge = DefaultHelixMessageMaxAge
	}
	h := &Helix{
		cfg:      cfg,
		chat:     chat,
		dir:      dir,
		log:      cfg.Logger,
		now:      cfg.Now,
		buckets:  map[string]*hxBucket{},
		chanBans: map[string][]time.Time{},
		bans:     map[string]map[string]hxBanState{},
		deleted:  map[string]bool{},
		rng:      cfg.Seed ^ 0x9e3779b97f4a7c15,
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if cfg.Moderators != nil {
		h.mods = map[string]map[string]bool{}
		for b, ids := range cfg.Moderators {
			h.mods[b] = map[string]bool{}
			for _, id := range ids {
				h.mods[b][id] = true
			}
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /moderation/bans", h.ban)
	mux.HandleFunc("DELETE /moderation/bans", h.unban)
	mux.HandleFunc("DELETE /moderation/chat", h.deleteMessage)
	mux.HandleFunc("POST /moderation/warnings", h.warn)
	h.mux = mux
	return h, nil
}

// ServeHTTP implements http.Handler.
func (h *Helix) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p, ok := strings.CutPrefix(r.URL.Path, "/helix"); ok && strings.HasPrefix(p, "/") {
		r2 := r.Clone(r.Context())
		r2.URL.Path = p
		r = r2
	}
	h.mux.ServeHTTP(w, r)
}

// Register mounts the Helix endpoints under /helix/ and the control
// endpoints /control/helix-faults and /control/helix-actions on mux.
func (h *Helix) Register(mux *http.ServeMux) {
	mux.Handle("/helix/", h)
	mux.Handle("/control/helix-faults", h.FaultsHandler())
	mux.Handle("/control/helix-actions", h.ActionsHandler())
}

// SetFaults replaces the injected faults.
func (h *Helix) SetFaults(f HelixFaults) error {
	if f.Status != http.StatusTooManyRequests && (f.Status < 500 || f.Status > 599) && (f.Count != 0 || f.Share != 0) {
		return fmt.Errorf("set helix faults: status must be 429 or 5xx, got %d", f.Status)
	}
	if f.Count < 0 || f.Share < 0 || f.Share > 1 || math.IsNaN(f.Share) {
		return fmt.Errorf("set helix faults: count must be >= 0 and share in 0..1, got %d and %g", f.Count, f.Share)
	}
	h.mu.Lock()
	h.faults = f
	h.mu.Unlock()
	return nil
}

// FaultsHandler serves the control endpoint for faults: POST with query
// status, count and share (e.g. ?status=429&count=5 or ?status=503&share=0.1)
// replaces them, DELETE clears them, GET returns them; each answers
// {"faults":HelixFaults,"stats":HelixStats}. Errors are {"error":"..."}
// with 400 or 405. Mount it at /control/helix-faults.
func (h *Helix) FaultsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			q := r.URL.Query()
			var f HelixFaults
			var errs []error
			var err error
			if f.Status, err = strconv.Atoi(q.Get("status")); err != nil {
				errs = append(errs, fmt.Errorf("status: %w", err))
			}
			if v := q.Get("count"); v != "" {
				if f.Count, err = strconv.Atoi(v); err != nil {
					errs = append(errs, fmt.Errorf("count: %w", err))
				}
			}
			if v := q.Get("share"); v != "" {
				if f.Share, err = strconv.ParseFloat(v, 64); err != nil {
					errs = append(errs, fmt.Errorf("share: %w", err))
				}
			}
			if err := errors.Join(errs...); err != nil {
				writeErr(w, http.StatusBadRequest, fmt.Errorf("parse helix faults: %w", err))
				return
			}
			if err := h.SetFaults(f); err != nil {
				writeErr(w, http.StatusBadRequest, err)
				return
			}
		case http.MethodDelete:
			_ = h.SetFaults(HelixFaults{})
		case http.MethodGet:
		default:
			writeErr(w, http.StatusMethodNotAllowed, errors.New("method not allowed"))
			return
		}
		h.mu.Lock()
		body := struct {
			Faults HelixFaults `json:"faults"`
			Stats  HelixStats  `json:"stats"`
		}{h.faults, h.stats}
		h.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	})
}

// ActionsHandler serves GET: every accepted action as a JSON array. Mount
// it at /control/helix-actions.
func (h *Helix) ActionsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeErr(w, http.StatusMethodNotAllowed, errors.New("method not allowed"))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(h.Actions())
	})
}

// Actions returns a copy of every accepted action, in order.
func (h *Helix) Actions() []HelixAction {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HelixAction(nil), h.actions...)
}

// Stats returns the request counters.
func (h *Helix) Stats() HelixStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.stats
}

// Banned reports whether user is banned or timed out in broadcaster's
// channel now.
func (h *Helix) Banned(broadcasterID, userID string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bans[broadcasterID][userID].active(h.now())
}

// observe registers f to be called (outside the lock, in order per request)
// with every accepted action.
func (h *Helix) observe(f func(HelixAction)) {
	h.mu.Lock()
	h.observers = append(h.observers, f)
	h.mu.Unlock()
}

// hxError is Twitch's error body.
type hxError struct {
	Error   string `json:"error"`
	Status  int    `json:"status"`
	Message string `json:"message"`
}

func (h *Helix) fail(w http.ResponseWriter, status int, msg string) {
	h.mu.Lock()
	switch status {
	case http.StatusUnauthorized:
		h.stats.Unauthorized++
	case http.StatusForbidden:
		h.stats.Forbidden++
	case http.StatusBadRequest:
		h.stats.BadRequest++
	case http.StatusNotFound:
		h.stats.NotFound++
	}
	h.mu.Unlock()
	writeHelixJSON(w, status, hxError{Error: http.StatusText(status), Status: status, Message: msg})
}

func writeHelixJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// hxCall is an authenticated request that got past the points bucket and
// the faults.
type hxCall struct {
	user        string // token user id
	broadcaster string
	moderator   string
	now         time.Time
}

// admit authenticates r, charges a point, applies faults, and checks
// broadcaster_id and moderator_id. It answers the request itself and returns
// false when the request goes no further.
func (h *Helix) admit(w http.ResponseWriter, r *http.Request) (hxCall, bool) {
	h.mu.Lock()
	h.stats.Requests++
	h.mu.Unlock()
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, known := h.cfg.Tokens[token]
	switch {
	case !ok || token == "" || !known:
		h.fail(w, http.StatusUnauthorized, "Invalid OAuth token")
		return hxCall{}, false
	case r.Header.Get("Client-Id") == "":
		h.fail(w, http.StatusUnauthorized, "Client ID is missing")
		return hxCall{}, false
	case r.Header.Get("Client-Id") != h.cfg.ClientID:
		h.fail(w, http.StatusUnauthorized, "Client ID and OAuth token do not match")
		return hxCall{}, false
	}

	h.mu.Lock()
	now := h.now()
	b := h.buckets[user]
	limit := float64(h.cfg.PointsPerMinute)
	if b == nil {
		b = &hxBucket{tokens: limit, at: now}
		h.buckets[user] = b
	}
	if dt := now.Sub(b.at); dt > 0 {
		b.tokens = math.Min(limit, b.tokens+dt.Minutes()*limit)
	}
	b.at = now
	limited := b.tokens < 1
	if !limited {
		b.tokens--
	}
	full := now.Add(time.Duration((limit - b.tokens) / limit * float64(time.Minute)))
	remaining, reset := int(b.tokens), full
	fault := 0
	if !limited {
		fault = h.nextFault()
	}
	switch {
	case limited:
		h.stats.RateLimited++
	case fault == http.StatusTooManyRequests:
		remaining, reset = 0, now.Add(h.cfg.FaultResetAfter)
		h.stats.Faults++
	case fault != 0:
		h.stats.Faults++
	}
	h.mu.Unlock()

	hd := w.Header()
	hd.Set("Ratelimit-Limit", strconv.Itoa(h.cfg.PointsPerMinute))
	hd.Set("Ratelimit-Remaining", strconv.Itoa(remaining))
	hd.Set("Ratelimit-Reset", strconv.FormatInt(hxCeilUnix(reset), 10))
	switch {
	case limited || fault == http.StatusTooManyRequests:
		writeHelixJSON(w, http.StatusTooManyRequests, hxError{Error: "Too Many Requests", Status: 429, Message: "The app has exceeded the number of requests it may make per minute for this broadcaster."})
		return hxCall{}, false
	case fault != 0:
		writeHelixJSON(w, fault, hxError{Error: http.StatusText(fault), Status: fault, Message: ""})
		return hxCall{}, false
	}

	q := r.URL.Query()
	c := hxCall{user: user, broadcaster: q.Get("broadcaster_id"), moderator: q.Get("moderator_id"), now: now}
	switch {
	case c.broadcaster == "":
		h.fail(w, http.StatusBadRequest, `Missing required parameter "broadcaster_id"`)
		return hxCall{}, false
	case c.moderator == "":
		h.fail(w, http.StatusBadRequest, `Missing required parameter "moderator_id"`)
		return hxCall{}, false
	case c.moderator != user:
		h.fail(w, http.StatusUnauthorized, "The ID in moderator_id must match the user ID in the user access token.")
		return hxCall{}, false
	case !h.isModerator(c.broadcaster, c.moderator):
		h.fail(w, http.StatusForbidden, "The user in moderator_id is not one of the broadcaster's moderators.")
		return hxCall{}, false
	}
	return c, true
}

// nextFault returns the status to fail this request with, or 0. h.mu held.
func (h *Helix) nextFault() int {
	f := &h.faults
	if f.Count > 0 {
		f.Count--
		return f.Status
	}
	if f.Share > 0 {
		h.rng = hxSplitmix(h.rng)
		if float64(h.rng>>11)/(1<<53) < f.Share {
			return f.Status
		}
	}
	return 0
}

func (h *Helix) isModerator(broadcaster, user string) bool {
	if broadcaster == user || h.mods == nil {
		return true
	}
	return h.mods[broadcaster][user]
}

func hxCeilUnix(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

// hxSplitmix is the SplitMix64 step: a well-mixed 64-bit sequence from a seed.
func hxSplitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	z := x
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// channelBanAllowed books one ban/unban for broadcaster, or reports that the
// per-channel limit is reached. h.mu held.
func (h *Helix) channelBanAllowed(broadcaster string, now time.Time) bool {
	if h.cfg.ChannelBanLimit == 0 {
		return true
	}
	ts := h.chanBans[broadcaster]
	cut := 0
	for cut < len(ts) && !ts[cut].After(now.Add(-h.cfg.ChannelBanWindow)) {
		cut++
	}
	ts = ts[cut:]
	if len(ts) >= h.cfg.ChannelBanLimit {
		h.chanBans[broadcaster] = ts
		return false
	}
	h.chanBans[broadcaster] = append(ts, now)
	return true
}

func (h *Helix) channelLimited(w http.ResponseWriter) {
	h.mu.Lock()
	h.stats.ChannelLimited++
	h.mu.Unlock()
	writeHelixJSON(w, http.StatusTooManyRequests, hxError{Error: "Too Many Requests", Status: 429, Message: "too many ban requests for this channel"})
}

type hxBanRequest struct {
	Data struct {
		UserID   string `json:"user_id"`
		Duration *int64 `json:"duration"`
		Reason   string `json:"reason"`
	} `json:"data"`
}

type hxBanResponse struct {
	BroadcasterID string  `json:"broadcaster_id"`
	ModeratorID   string  `json:"moderator_id"`
	UserID        string  `json:"user_id"`
	CreatedAt     string  `json:"created_at"`
	EndTime       *string `json:"end_time"`
}

func (h *Helix) ban(w http.ResponseWriter, r *http.Request) {
	c, ok := h.admit(w, r)
	if !ok {
		return
	}
	var body hxBanRequest
	if err := decodeHelixBody(r, &body); err != nil {
		h.fail(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return
	}
	d := body.Data
	switch {
	case d.UserID == "":
		h.fail(w, http.StatusBadRequest, `Missing required parameter "user_id"`)
		return
	case d.Duration != nil && (*d.Duration < 1 || *d.Duration > helixMaxTimeoutS):
		h.fail(w, http.StatusBadRequest, "The value in the duration field is not valid.")
		return
	case utf8.RuneCountInString(d.Reason) > helixMaxReasonRunes:
		h.fail(w, http.StatusBadRequest, "The text in the reason field is too long.")
		return
	case d.UserID == c.broadcaster || (h.mods != nil && h.mods[c.broadcaster][d.UserID]):
		h.fail(w, http.StatusBadRequest, "The user specified in the user_id field may not be banned.")
		return
	}
	h.mu.Lock()
	if h.bans[c.broadcaster][d.UserID].permanent {
		h.mu.Unlock()
		h.fail(w, http.StatusBadRequest, "user is already banned")
		return
	}
	if !h.channelBanAllowed(c.broadcaster, c.now) {
		h.mu.Unlock()
		h.channelLimited(w)
		return
	}
	a := HelixAction{Kind: event.ModBan, BroadcasterID: c.broadcaster, ModeratorID: c.moderator, UserID: d.UserID, Reason: d.Reason, At: c.now}
	st := hxBanState{permanent: true}
	var end *string
	if d.Duration != nil {
		a.Kind, a.DurationS = event.ModTimeout, *d.Duration
		st = hxBanState{until: c.now.Add(time.Duration(*d.Duration) * time.Second)}
		e := st.until.UTC().Format(time.RFC3339)
		end = &e
	}
	h.setBan(c.broadcaster, d.UserID, st)
	obs := h.acceptLocked(a)
	h.mu.Unlock()

	h.echo(a, nil)
	h.notify(obs, a)
	writeHelixJSON(w, http.StatusOK, struct {
		Data []hxBanResponse `json:"data"`
	}{[]hxBanResponse{{c.broadcaster, c.moderator, d.UserID, c.now.UTC().Format(time.RFC3339), end}}})
}

func (h *Helix) unban(w http.ResponseWriter, r *http.Request) {
	c, ok := h.admit(w, r)
	if !ok {
		return
	}
	user := r.URL.Query().Get("user_id")
	if user == "" {
		h.fail(w, http.StatusBadRequest, `Missing required parameter "user_id"`)
		return
	}
	h.mu.Lock()
	st := h.bans[c.broadcaster][user]
	if !st.active(c.now) {
		h.mu.Unlock()
		h.fail(w, http.StatusBadRequest, "user is not banned")
		return
	}
	if !h.channelBanAllowed(c.broadcaster, c.now) {
		h.mu.Unlock()
		h.channelLimited(w)
		return
	}
	a := HelixAction{Kind: event.ModUnban, BroadcasterID: c.broadcaster, ModeratorID: c.moderator, UserID: user, At: c.now}
	if !st.permanent {
		a.Kind = event.ModUntimeout
	}
	delete(h.bans[c.broadcaster], user)
	obs := h.acceptLocked(a)
	h.mu.Unlock()
	h.echo(a, nil)
	h.notify(obs, a)
	w.WriteHeader(http.StatusNoContent)
}

func (h *Helix) deleteMessage(w http.ResponseWriter, r *http.Request) {
	c, ok := h.admit(w, r)
	if !ok {
		return
	}
	msgID := r.URL.Query().Get("message_id")
	a := HelixAction{Kind: event.ModDelete, BroadcasterID: c.broadcaster, ModeratorID: c.moderator, MsgID: msgID, At: c.now}
	if msgID == "" {
		// Twitch clears the whole chat when message_id is missing.
		a.Kind = event.ModClear
	} else if h.dir != nil {
		rec, found := h.dir.LookupMessage(msgID)
		switch {
		case !found || rec.RoomID != c.broadcaster || c.now.Sub(time.UnixMilli(rec.TmiSentTs)) > h.cfg.MessageMaxAge:
			h.fail(w, http.StatusNotFound, "The ID in message_id was not found.")
			return
		case rec.UserID == c.broadcaster:
			h.fail(w, http.StatusBadRequest, "You may not delete the broadcaster's messages.")
			return
		case rec.Persona == PersonaModerator.String() || (h.mods != nil && h.mods[c.broadcaster][rec.UserID]):
			h.fail(w, http.StatusBadRequest, "You may not delete another moderator's messages.")
			return
		}
		a.UserID = rec.UserID
	}
	h.mu.Lock()
	if msgID != "" && h.deleted[msgID] {
		h.mu.Unlock()
		h.fail(w, http.StatusNotFound, "The ID in message_id was not found.")
		return
	}
	if msgID == "" {
		h.stats.ChatClears++
	} else {
		h.deleted[msgID] = true
	}
	obs := h.acceptLocked(a)
	h.mu.Unlock()
	h.echo(a, nil)
	h.notify(obs, a)
	w.WriteHeader(http.StatusNoContent)
}

type hxWarnRequest struct {
	Data struct {
		UserID string `json:"user_id"`
		Reason string `json:"reason"`
	} `json:"data"`
}

func (h *Helix) warn(w http.ResponseWriter, r *http.Request) {
	c, ok := h.admit(w, r)
	if !ok {
		return
	}
	var body hxWarnRequest
	if err := decodeHelixBody(r, &body); err != nil {
		h.fail(w, http.StatusBadRequest, "Invalid JSON: "+err.Error())
		return
	}
	d := body.Data
	switch n := utf8.RuneCountInString(d.Reason); {
	case d.UserID == "":
		h.fail(w, http.StatusBadRequest, `Missing required parameter "user_id"`)
		return
	case n == 0:
		h.fail(w, http.StatusBadRequest, `Missing required parameter "reason"`)
		return
	case n > helixMaxReasonRunes:
		h.fail(w, http.StatusBadRequest, "The text in the reason field is too long.")
		return
	case d.UserID == c.broadcaster:
		h.fail(w, http.StatusBadRequest, "The user specified in the user_id may not be warned.")
		return
	}
	a := HelixAction{Kind: event.ModWarn, BroadcasterID: c.broadcaster, ModeratorID: c.moderator, UserID: d.UserID, Reason: d.Reason, At: c.now}
	h.mu.Lock()
	obs := h.acceptLocked(a)
	h.mu.Unlock()
	h.notify(obs, a)
	writeHelixJSON(w, http.StatusOK, struct {
		Data []map[string]string `json:"data"`
	}{[]map[string]string{{"broadcaster_id": c.broadcaster, "user_id": d.UserID, "moderator_id": c.moderator, "reason": d.Reason}}})
}

func decodeHelixBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("Content-Type must be application/json, got %q", ct)
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, helixMaxBodyBytes))
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decode body: %w", err)
	}
	return nil
}

// setBan records a ban state. h.mu held.
func (h *Helix) setBan(broadcaster, user string, st hxBanState) {
	m := h.bans[broadcaster]
	if m == nil {
		m = map[string]hxBanState{}
		h.bans[broadcaster] = m
	}
	m[user] = st
}

// acceptLocked records a and returns the observers to notify. h.mu held.
func (h *Helix) acceptLocked(a HelixAction) []func(HelixAction) {
	if !a.Human {
		h.stats.Accepted++
	}
	h.actions = append(h.actions, a)
	return h.observers
}

func (h *Helix) notify(obs []func(HelixAction), a HelixAction) {
	for _, f := range obs {
		f(a)
	}
	h.log.Debug("helix action", "kind", string(a.Kind), "room_id", a.BroadcasterID, "user_id", a.UserID, "msg_id", a.MsgID, "human", a.Human)
}

// applyHuman records an action of a simulated human moderator (which Twitch
// would reflect in the ban state) without an HTTP call, and echoes it into
// chat. rec, when set, is the message a delete removes: it lets the chat send
// CLEARMSG for a message older than its lookup window. It returns the
// recorded action, or false when it changed nothing (the user is banned
// already, the message was deleted already, the user is not banned).
func (h *Helix) applyHuman(a HelixAction, rec *TruthRecord) (HelixAction, bool) {
	a.Human = true
	h.mu.Lock()
	bans := h.bans[a.BroadcasterID]
	switch a.Kind {
	case event.ModTimeout:
		if bans[a.UserID].permanent {
			h.mu.Unlock()
			return a, false
		}
		h.setBan(a.BroadcasterID, a.UserID, hxBanState{until: a.At.Add(time.Duration(a.DurationS) * time.Second)})
	case event.ModBan:
		if bans[a.UserID].permanent {
			h.mu.Unlock()
			return a, false
		}
		h.setBan(a.BroadcasterID, a.UserID, hxBanState{permanent: true})
	case event.ModDelete:
		if h.deleted[a.MsgID] {
			h.mu.Unlock()
			return a, false
		}
		h.deleted[a.MsgID] = true
	case event.ModUnban, event.ModUntimeout:
		st := bans[a.UserID]
		if !st.active(a.At) {
			h.mu.Unlock()
			return a, false
		}
		a.Kind = event.ModUntimeout
		if st.permanent {
			a.Kind = event.ModUnban
		}
		delete(bans, a.UserID)
	default:
		h.mu.Unlock()
		return a, false
	}
	obs := h.acceptLocked(a)
	h.mu.Unlock()
	h.echo(a, rec)
	h.notify(obs, a)
	return a, true
}

// recordClearer is a HelixChat that can send CLEARMSG for a message it
// no longer remembers (*Server).
type recordClearer interface {
	clearMsgRecord(rec *TruthRecord) (int, error)
}

// echo performs the chat side of an accepted action; rec (may be nil) is
// the deleted message of a delete. Errors (unknown channel, message already
// out of the lookup window) only skip the echo.
func (h *Helix) echo(a HelixAction, rec *TruthRecord) {
	if h.chat == nil || h.dir == nil {
		return
	}
	ch, ok := h.dir.ChannelByRoomID(a.BroadcasterID)
	if !ok {
		return
	}
	var err error
	switch a.Kind {
	case event.ModTimeout:
		_, err = h.chat.ClearChat(ClearChatOptions{Channel: ch, UserID: a.UserID, Duration: time.Duration(a.DurationS) * time.Second})
	case event.ModBan:
		_, err = h.chat.ClearChat(ClearChatOptions{Channel: ch, UserID: a.UserID})
	case event.ModClear:
		_, err = h.chat.ClearChat(ClearChatOptions{Channel: ch})
	case event.ModDelete:
		if rc, ok := h.chat.(recordClearer); ok && rec != nil && rec.MsgID == a.MsgID && rec.Channel == ch {
			_, err = rc.clearMsgRecord(rec)
		} else {
			_, err = h.chat.ClearMsg(ch, a.MsgID)
		}
	case event.ModUnban, event.ModUntimeout:
		h.chat.Unban(a.UserID)
	}
	if err != nil {
		h.log.Debug("helix: chat echo skipped", "kind", string(a.Kind), "error", err.Error())
	}
}
