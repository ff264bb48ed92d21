package clamp

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	"github.com/streamsafe-rl/streamsafe/shared/event"
)

// ErrInvalidLimits is wrapped by every FieldError that Limits.Validate returns.
var ErrInvalidLimits = errors.New("clamp: invalid limits")

// Twitch's bounds for a timeout length (Helix Ban User "duration").
const (
	TwitchMinTimeoutS = 1
	TwitchMaxTimeoutS = 1_209_600 // two weeks
)

// Defaults of DefaultLimits. RULES.md documents why each was chosen.
const (
	DefaultMaxAction          = Kind(event.Timeout)
	DefaultMinTimeoutS        = TwitchMinTimeoutS
	DefaultMaxTimeoutS        = 600
	DefaultVIPMax             = Kind(event.Warn)
	DefaultSubCapMonths       = 12
	DefaultSubMax             = Kind(event.Delete)
	DefaultRequireWarn        = true
	DefaultWarnWindowMs       = 60 * 60 * 1000 // 1 h
	DefaultExtremeScore       = 0.97
	DefaultEscalationFallback = Kind(event.Warn)
	DefaultRaidMaxTimeoutS    = 60
	DefaultRaidFirstMsgMax    = Kind(event.Delete)
	DefaultCooldownMs         = 10 * 1000 // 10 s
)

// Kind is an event.ActionKind that reads and writes JSON (and any other
// encoding.TextMarshaler consumer) as its wire name, e.g. "DELETE".
type Kind event.ActionKind

// String returns the wire name of k.
func (k Kind) String() string { return event.ActionKind(k).String() }

// MarshalText implements encoding.TextMarshaler.
func (k Kind) MarshalText() ([]byte, error) {
	if event.ActionKind(k) > event.Timeout {
		return nil, fmt.Errorf("marshal kind %d: %w", uint8(k), event.ErrUnknownAction)
	}
	return []byte(k.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *Kind) UnmarshalText(b []byte) error {
	a, err := event.ParseActionKind(string(b))
	if err != nil {
		return err
	}
	*k = Kind(a)
	return nil
}

// Limits configures the clamp for one channel (or globally). Every field has a
// JSON name so the Python RL code can load the very same file; see Config for
// the file layout and RULES.md for the defaults.
//
// Timeout lengths are clamped into Twitch's [TwitchMinTimeoutS,
// TwitchMaxTimeoutS] before use (so 0 means "Twitch's bound"); every other
// problem is reported by Validate.
type Limits struct {
	// MaxAction is the harshest kind the system may execute in the channel:
	// DELETE forbids timeouts, IGNORE turns the system off.
	MaxAction Kind `json:"max_action"`
	// MinTimeoutS is the shortest timeout the system may execute. It is a
	// floor on timeout LENGTH only: the clamp never escalates, so a shorter
	// requested timeout becomes DELETE rather than a longer timeout.
	MinTimeoutS int32 `json:"min_timeout_s"`
	// MaxTimeoutS is the longest timeout the system may execute; longer
	// requests are shortened (then snapped down to a discrete length).
	MaxTimeoutS int32 `json:"max_timeout_s"`

	// VIPMax is the harshest kind for VIPs (TIMEOUT disables the cap).
	VIPMax Kind `json:"vip_max"`
	// SubCapMonths is the number of subscribed months from which SubMax
	// applies; 0 disables the subscriber cap.
	SubCapMonths int32 `json:"sub_cap_months"`
	// SubMax is the harshest kind for long-time subscribers.
	SubMax Kind `json:"sub_max"`

	// RequireWarn enables the escalation rule: no timeout unless this system
	// warned the user within WarnWindowMs or the score is >= ExtremeScore.
	RequireWarn bool `json:"require_warn"`
	// WarnWindowMs is how long a system WARN counts for escalation.
	WarnWindowMs int64 `json:"warn_window_ms"`
	// ExtremeScore is the score from which a timeout needs no earlier warn.
	// A value above 1 disables the bypass.
	ExtremeScore float64 `json:"extreme_score"`
	// EscalationFallback is what a timeout blocked by escalation becomes:
	// WARN (the default: starts the escalation ladder, leaves the message)
	// or DELETE (removes the message, but the user is never warned).
	EscalationFallback Kind `json:"escalation_fallback"`

	// RaidMaxTimeoutS is the longest timeout while a raid is active; below
	// 60 (the shortest discrete timeout) it forbids timeouts in raids.
	RaidMaxTimeoutS int32 `json:"raid_max_timeout_s"`
	// RaidFirstMsgMax is the harshest kind for first-time chatters while a
	// raid is active (TIMEOUT disables the cap).
	RaidFirstMsgMax Kind `json:"raid_first_msg_max"`

	// CooldownMs is the per-user cooldown after a system action: within it
	// WARN and TIMEOUT are suppressed (a timeout becomes DELETE, a warn
	// IGNORE) and only DELETE of the new message is allowed; 0 disables it.
	CooldownMs int64 `json:"cooldown_ms"`
}

// DefaultLimits returns the documented defaults (the Default* constants).
func DefaultLimits() Limits {
	return Limits{
		MaxAction:          DefaultMaxAction,
		MinTimeoutS:        DefaultMinTimeoutS,
		MaxTimeoutS:        DefaultMaxTimeoutS,
		VIPMax:             DefaultVIPMax,
		SubCapMonths:       DefaultSubCapMonths,
		SubMax:             DefaultSubMax,
		RequireWarn:        DefaultRequireWarn,
		WarnWindowMs:       DefaultWarnWindowMs,
		ExtremeScore:       DefaultExtremeScore,
		EscalationFallback: DefaultEscalationFallback,
		RaidMaxTimeoutS:    DefaultRaidMaxTimeoutS,
		RaidFirstMsgMax:    DefaultRaidFirstMsgMax,
		CooldownMs:         DefaultCooldownMs,
	}
}

// Normalized returns l with its timeout lengths clamped into Twitch's bounds,
// which is how New uses it.
func (l Limits) Normalized() Limits {
	l.MinTimeoutS = clampLen(l.MinTimeoutS)
	l.MaxTimeoutS = clampLen(l.MaxTimeoutS)
	l.RaidMaxTimeoutS = clampLen(l.RaidMaxTimeoutS)
	return l
}

func clampLen(s int32) int32 {
	return min(max(s, TwitchMinTimeoutS), TwitchMaxTimeoutS)
}

// FieldError is a Limits problem found by Validate. It wraps ErrInvalidLimits.
type FieldError struct {
	Channel string // "" for the global limits
	Field   string // JSON name of the field
	Msg     string
}

func (e *FieldError) Error() string {
	where := "global"
	if e.Channel != "" {
		where = "channel " + e.Channel
	}
	return fmt.Sprintf("clamp: %s limits: %s: %s", where, e.Field, e.Msg)
}

// Unwrap returns ErrInvalidLimits.
func (e *FieldError) Unwrap() error { return ErrInvalidLimits }

// Validate reports every problem with l (after Normalized) as a *FieldError,
// joined with errors.Join; nil when l is usable.
func (l Limits) Validate() error { return l.validate("") }

func (l Limits) validate(channel string) error {
	n := l.Normalized()
	var errs []error
	bad := func(field, msg string) {
		errs = append(errs, &FieldError{Channel: channel, Field: field, Msg: msg})
	}
	kinds := []struct {
		field string
		k     Kind
	}{
		{"max_action", n.MaxAction}, {"vip_max", n.VIPMax}, {"sub_max", n.SubMax},
		{"raid_first_msg_max", n.RaidFirstMsgMax}, {"escalation_fallback", n.EscalationFallback},
	}
	for _, f := range kinds {
		if event.ActionKind(f.k) > event.Timeout {
			bad(f.field, fmt.Sprintf("unknown action kind %d", uint8(f.k)))
		}
	}
	if n.MinTimeoutS > n.MaxTimeoutS {
		bad("min_timeout_s", fmt.Sprintf("%d is above max_timeout_s %d", n.MinTimeoutS, n.MaxTimeoutS))
	}
	if n.SubCapMonths < 0 {
		bad("sub_cap_months", "must be >= 0 (0 disables the cap)")
	}
	if n.RequireWarn && n.WarnWindowMs <= 0 {
		bad("warn_window_ms", "must be > 0 when require_warn is set")
	}
	if n.WarnWindowMs < 0 {
		bad("warn_window_ms", "must be >= 0")
	}
	if math.IsNaN(n.ExtremeScore) || n.ExtremeScore < 0 || math.IsInf(n.ExtremeScore, 0) {
		bad("extreme_score", "must be a finite number >= 0 (above 1 disables the bypass)")
	}
	if k := event.ActionKind(n.EscalationFallback); k != event.Warn && k != event.Delete {
		bad("escalation_fallback", "must be WARN or DELETE")
	}
	if n.CooldownMs < 0 {
		bad("cooldown_ms", "must be >= 0 (0 disables the cooldown)")
	}
	return errors.Join(errs...)
}

// Config is the clamp's configuration file: global limits plus per-channel
// overrides, keyed by the channel name decide passes to Apply (the IRC
// channel login, lower case, without '#').
//
// When decoded from JSON, "global" starts from DefaultLimits and each channel
// starts from the decoded global limits, so a file only names what differs:
//
//	{"global": {"max_timeout_s": 300}, "channels": {"forsen": {"max_action": "DELETE"}}}
//
// Unknown fields are errors. Encoding writes every field of every entry, so a
// dumped Config reads back identically.
type Config struct {
	Global   Limits            `json:"global"`
	Channels map[string]Limits `json:"channels,omitempty"`
}

// DefaultConfig returns DefaultLimits with no channel overrides.
func DefaultConfig() Config { return Config{Global: DefaultLimits()} }

// UnmarshalJSON implements json.Unmarshaler with the inheritance described on
// Config.
func (c *Config) UnmarshalJSON(b []byte) error {
	var raw struct {
		Global   json.RawMessage            `json:"global"`
		Channels map[string]json.RawMessage `json:"channels"`
	}
	if err := strictUnmarshal(b, &raw); err != nil {
		return fmt.Errorf("decode clamp config: %w", err)
	}
	g := DefaultLimits()
	if len(raw.Global) > 0 {
		if err := strictUnmarshal(raw.Global, &g); err != nil {
			return fmt.Errorf("decode clamp config global: %w", err)
		}
	}
	var chans map[string]Limits
	if len(raw.Channels) > 0 {
		chans = make(map[string]Limits, len(raw.Channels))
	}
	for name, m := range raw.Channels {
		l := g
		if err := strictUnmarshal(m, &l); err != nil {
			return fmt.Errorf("decode clamp config channel %q: %w", name, err)
		}
		chans[name] = l
	}
	c.Global, c.Channels = g, chans
	return nil
}

func strictUnmarshal(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return errors.New("trailing data after JSON value")
	}
	return nil
}
