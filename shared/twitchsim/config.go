package twitchsim

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Scenario selects a preset of background events.
type Scenario string

// Scenarios.
const (
	// ScenarioSteady generates chat at Rate with no scheduled events.
	ScenarioSteady Scenario = "steady"
	// ScenarioRaid starts a raid on a random channel every RaidEvery (default 60s).
	ScenarioRaid Scenario = "raid"
	// ScenarioReconnect sends RECONNECT to every connection every ReconnectEvery (default 30s).
	ScenarioReconnect Scenario = "reconnect"
)

// Defaults used by DefaultConfig.
const (
	DefaultWSAddr          = "127.0.0.1:8765"
	DefaultTCPAddr         = "127.0.0.1:6667"
	DefaultControlAddr     = "127.0.0.1:8766"
	DefaultChannels        = 8
	DefaultRate            = 1000
	DefaultTick            = 2 * time.Millisecond
	DefaultRoomIDBase      = 500000000
	DefaultJoinLimit       = 20
	DefaultJoinWindow      = 10 * time.Second
	DefaultPingInterval    = 5 * time.Minute
	DefaultPongTimeout     = 10 * time.Second
	DefaultRegisterTimeout = 30 * time.Second
	DefaultReconnectGrace  = 10 * time.Second
	DefaultQueueBytes      = 4 << 20
	DefaultSlowTimeout     = 10 * time.Second
	DefaultMaxFrameBytes   = 16 << 10
	DefaultRecentMessages  = 1 << 16
	DefaultRaidDuration    = 20 * time.Second
	DefaultRaidMultiplier  = 10
	DefaultRaidViewers     = 500
	DefaultRaidHostile     = 0.25
	DefaultRaidEvery       = 60 * time.Second
	DefaultReconnectEvery  = 30 * time.Second
	DefaultModeratorTick   = 250 * time.Millisecond
)

// Weights are the relative frequencies of the personas that write steady
// chat. They need not sum to anything in particular; zero disables a persona.
type Weights struct {
	Viewer      float64
	Subscriber  float64
	VIP         float64
	Moderator   float64
	Broadcaster float64
	Spammer     float64
	LinkDropper float64
	Copypasta   float64
	BotSwarm    float64
	Abusive     float64
}

// DefaultWeights has roughly 18 % of messages from bad actors.
func DefaultWeights() Weights {
	return Weights{
		Viewer: 55, Subscriber: 22, VIP: 2, Moderator: 2, Broadcaster: 0.5,
		Spammer: 4, LinkDropper: 3, Copypasta: 4, BotSwarm: 3, Abusive: 4.5,
	}
}

func (w *Weights) field(p Persona) *float64 {
	switch p {
	case PersonaViewer:
		return &w.Viewer
	case PersonaSubscriber:
		return &w.Subscriber
	case PersonaVIP:
		return &w.VIP
	case PersonaModerator:
		return &w.Moderator
	case PersonaBroadcaster:
		return &w.Broadcaster
	case PersonaSpammer:
		return &w.Spammer
	case PersonaLinkDropper:
		return &w.LinkDropper
	case PersonaCopypasta:
		return &w.Copypasta
	case PersonaBotSwarm:
		return &w.BotSwarm
	case PersonaAbusive:
		return &w.Abusive
	}
	return nil
}

// ParseWeights overrides base with a comma-separated list of persona=weight
// pairs, e.g. "abusive=10,viewer=40". Persona names are Persona.String values.
func ParseWeights(base Weights, s string) (Weights, error) {
	w := base
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		name, val, ok := strings.Cut(kv, "=")
		if !ok {
			return base, fmt.Errorf("parse weight %q: missing '='", kv)
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			return base, fmt.Errorf("parse weight %q: %w", kv, err)
		}
		var dst *float64
		for p := Persona(0); p < PersonaRaider; p++ {
			if p.String() == strings.TrimSpace(name) {
				dst = w.field(p)
			}
		}
		if dst == nil {
			return base, fmt.Errorf("parse weight %q: unknown persona %q", kv, name)
		}
		*dst = f
	}
	return w, nil
}

// Config is the whole configuration surface of a Server.
type Config struct {
	// WSAddr, TCPAddr and ControlAddr are the listen addresses used by Listen
	// and Start; empty disables that listener. Use "127.0.0.1:0" in tests.
	WSAddr      string
	TCPAddr     string
	ControlAddr string

	// Seed makes the message sequence (channels, personas, users, texts, ids)
	// reproducible.
	Seed uint64
	// Channels is the number of simulated channels #simchan0..Channels-1.
	Channels int
	// RoomIDBase: room-id of simchan i is RoomIDBase+i (also its broadcaster's user-id).
	RoomIDBase int64

	// Rate is the total steady PRIVMSG rate across all channels, messages per
	// second (raids add to it). 0 generates nothing until changed.
	Rate float64
	// Tick is the pacing interval: each tick emits the messages that are due.
	Tick time.Duration
	// Count stops generation after exactly this many PRIVMSGs (0 = no limit).
	Count int64
	// Duration stops generation this long after it started (0 = no limit).
	Duration time.Duration
	// StartPaused holds generation until Resume (POST /control/resume).
	StartPaused bool
	// WaitForJoin holds generation until every simulated channel has at
	// least one joined connection.
	WaitForJoin bool

	// Weights is the persona mix of steady chat.
	Weights Weights
	// ReplyFraction of benign chat messages are replies (reply-parent-* tags).
	ReplyFraction float64
	// ActionFraction of benign chat messages are CTCP ACTIONs (/me).
	ActionFraction float64

	// Scenario presets RaidEvery or ReconnectEvery when they are zero.
	Scenario Scenario
	// RaidEvery starts a raid on a random channel periodically (0 = off).
	RaidEvery time.Duration
	// RaidDuration is how long a raid burst lasts.
	RaidDuration time.Duration
	// RaidMultiplier: during a raid the target channel gets this many times
	// its normal share of Rate (the extra messages come from raiders).
	RaidMultiplier float64
	// RaidViewers is msg-param-viewerCount and the number of distinct raiders.
	RaidViewers int
	// RaidHostileFraction of raid messages are spam/bot/abuse (hate raid).
	RaidHostileFraction float64
	// ReconnectEvery sends RECONNECT to every connection periodically (0 = off).
	ReconnectEvery time.Duration
	// ReconnectGrace is how long a connection keeps receiving after RECONNECT
	// before the server closes it.
	ReconnectGrace time.Duration

	// Tokens are the accepted OAuth tokens (without "oauth:"). Empty accepts
	// any PASS. Nicks justinfan<digits> are always accepted anonymously.
	Tokens []string
	// BotIsMod makes USERSTATE report mod=1 to authenticated clients.
	BotIsMod bool

	// JoinLimit channels per JoinWindow per connection; excess JOINs are
	// dropped with a NOTICE (msg-id=msg_ratelimit). 0 disables the limit.
	JoinLimit  int
	JoinWindow time.Duration
	// PingInterval between server PINGs (0 = never); a connection that does
	// not PONG within PongTimeout is closed.
	PingInterval time.Duration
	PongTimeout  time.Duration
	// RegisterTimeout closes connections that have not sent NICK in time.
	RegisterTimeout time.Duration

	// QueueBytes bounds each connection's outbound queue.
	QueueBytes int
	// SlowTimeout closes a connection whose queue stayed full (or whose
	// socket write blocked) this long.
	SlowTimeout time.Duration
	// MaxFrameBytes caps a WebSocket text frame; queued lines are packed into
	// frames up to this size (a longer line gets a frame of its own).
	MaxFrameBytes int

	// TruthFile receives one JSON line per generated PRIVMSG ("" = off).
	TruthFile string
	// RecentMessages is how many generated messages LookupMessage and
	// ClearMsg can find.
	RecentMessages int

	// Helix, when set, serves a simulated Helix moderation API on the
	// control listener (routes under /helix/, so a Helix client's base URL
	// is ControlURL()+"/helix") acting on this server's chat, plus
	// /control/helix-faults and /control/helix-actions; GET /stats then
	// includes its counters. Logger defaults to Config.Logger. Nil: off.
	Helix *HelixConfig
	// Moderators, when set, simulates human moderators (requires Helix):
	// every generated PRIVMSG is observed, missed abusive messages get a
	// human CLEARMSG or CLEARCHAT, and wrong system timeouts and bans are
	// lifted, with an unban/untimeout event sent to ModSink. GET /stats
	// then includes their counters. Nil: off.
	Moderators *ModeratorsConfig
	// ModSink receives the moderators' reversal events (nil: they are only
	// counted). The caller owns it (the Server does not close it).
	ModSink ModSink
	// ModeratorTick is how often Serve lets the moderators act (0: never;
	// the caller drives Moderators().Tick itself, e.g. with its own clock).
	ModeratorTick time.Duration

	// Logger receives server logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns a fully defaulted Config.
func DefaultConfig() Config {
	return Config{
		WSAddr:              DefaultWSAddr,
		TCPAddr:             DefaultTCPAddr,
		ControlAddr:         DefaultControlAddr,
		Seed:                1,
		Channels:            DefaultChannels,
		RoomIDBase:          DefaultRoomIDBase,
		Rate:                DefaultRate,
		Tick:                DefaultTick,
		Weights:             DefaultWeights(),
		ReplyFraction:       0.05,
		ActionFraction:      0.02,
		Scenario:            ScenarioSteady,
		RaidDuration:        DefaultRaidDuration,
		RaidMultiplier:      DefaultRaidMultiplier,
		RaidViewers:         DefaultRaidViewers,
		RaidHostileFraction: DefaultRaidHostile,
		ReconnectGrace:      DefaultReconnectGrace,
		BotIsMod:            true,
		JoinLimit:           DefaultJoinLimit,
		JoinWindow:          DefaultJoinWindow,
		PingInterval:        DefaultPingInterval,
		PongTimeout:         DefaultPongTimeout,
		RegisterTimeout:     DefaultRegisterTimeout,
		QueueBytes:          DefaultQueueBytes,
		SlowTimeout:         DefaultSlowTimeout,
		MaxFrameBytes:       DefaultMaxFrameBytes,
		RecentMessages:      DefaultRecentMessages,
		ModeratorTick:       DefaultModeratorTick,
	}
}

// ErrInvalidConfig is wrapped by every error Validate returns.
var ErrInvalidConfig = errors.New("twitchsim: invalid config")

func fieldErr(field, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...))
}

// Validate reports the first invalid field.
func (c *Config) Validate() error {
	switch {
	case c.Channels < 1 || c.Channels > 100000:
		return fieldErr("Channels", "must be in 1..100000, got %d", c.Channels)
	case c.RoomIDBase < 1:
		return fieldErr("RoomIDBase", "must be positive, got %d", c.RoomIDBase)
	case c.Rate < 0:
		return fieldErr("Rate", "must be >= 0, got %g", c.Rate)
	case c.Tick < 100*time.Microsecond || c.Tick > time.Second:
		return fieldErr("Tick", "must be in 100us..1s, got %s", c.Tick)
	case c.Count < 0:
		return fieldErr("Count", "must be >= 0, got %d", c.Count)
	case c.Duration < 0:
		return fieldErr("Duration", "must be >= 0, got %s", c.Duration)
	case c.ReplyFraction < 0 || c.ReplyFraction > 1:
		return fieldErr("ReplyFraction", "must be in 0..1, got %g", c.ReplyFraction)
	case c.ActionFraction < 0 || c.ActionFraction > 1:
		return fieldErr("ActionFraction", "must be in 0..1, got %g", c.ActionFraction)
	case c.Scenario != ScenarioSteady && c.Scenario != ScenarioRaid && c.Scenario != ScenarioReconnect && c.Scenario != "":
		return fieldErr("Scenario", "must be steady, raid or reconnect, got %q", c.Scenario)
	case c.RaidEvery < 0 || c.ReconnectEvery < 0:
		return fieldErr("RaidEvery/ReconnectEvery", "must be >= 0")
	case c.RaidDuration <= 0:
		return fieldErr("RaidDuration", "must be positive, got %s", c.RaidDuration)
	case c.RaidMultiplier < 1:
		return fieldErr("RaidMultiplier", "must be >= 1, got %g", c.RaidMultiplier)
	case c.RaidViewers < 1:
		return fieldErr("RaidViewers", "must be >= 1, got %d", c.RaidViewers)
	case c.RaidHostileFraction < 0 || c.RaidHostileFraction > 1:
		return fieldErr("RaidHostileFraction", "must be in 0..1, got %g", c.RaidHostileFraction)
	case c.ReconnectGrace < 0:
		return fieldErr("ReconnectGrace", "must be >= 0, got %s", c.ReconnectGrace)
	case c.JoinLimit < 0 || (c.JoinLimit > 0 && c.JoinWindow <= 0):
		return fieldErr("JoinLimit/JoinWindow", "limit must be >= 0 and window positive")
	case c.PingInterval < 0 || (c.PingInterval > 0 && c.PongTimeout <= 0):
		return fieldErr("PingInterval/PongTimeout", "interval must be >= 0 and timeout positive")
	case c.RegisterTimeout < 0:
		return fieldErr("RegisterTimeout", "must be >= 0, got %s", c.RegisterTimeout)
	case c.QueueBytes < 16<<10:
		return fieldErr("QueueBytes", "must be >= 16384, got %d", c.QueueBytes)
	case c.SlowTimeout <= 0:
		return fieldErr("SlowTimeout", "must be positive, got %s", c.SlowTimeout)
	case c.MaxFrameBytes < 512:
		return fieldErr("MaxFrameBytes", "must be >= 512, got %d", c.MaxFrameBytes)
	case c.RecentMessages < 1:
		return fieldErr("RecentMessages", "must be >= 1, got %d", c.RecentMessages)
	case c.Moderators != nil && c.Helix == nil:
		return fieldErr("Moderators", "need Helix (the moderators act through it)")
	case c.ModeratorTick < 0:
		return fieldErr("ModeratorTick", "must be >= 0, got %s", c.ModeratorTick)
	}
	if c.Helix != nil {
		if err := c.Helix.validate(); err != nil {
			return err
		}
	}
	if c.Moderators != nil {
		if err := c.Moderators.validate(); err != nil {
			return err
		}
	}
	total := 0.0
	for p := Persona(0); p < PersonaRaider; p++ {
		w := *c.Weights.field(p)
		if w < 0 {
			return fieldErr("Weights", "%s weight must be >= 0, got %g", p, w)
		}
		total += w
	}
	if total <= 0 {
		return fieldErr("Weights", "at least one weight must be positive")
	}
	for i, t := range c.Tokens {
		if t == "" || strings.ContainsAny(t, " \r\n") || strings.HasPrefix(t, "oauth:") {
			return fieldErr("Tokens", "token %d must be non-empty, without spaces and without the oauth: prefix", i)
		}
	}
	return nil
}

// effective returns c with scenario presets applied.
func (c Config) effective() Config {
	switch c.Scenario {
	case ScenarioRaid:
		if c.RaidEvery == 0 {
			c.RaidEvery = DefaultRaidEvery
		}
	case ScenarioReconnect:
		if c.ReconnectEvery == 0 {
			c.ReconnectEvery = DefaultReconnectEvery
		}
	}
	return c
}
