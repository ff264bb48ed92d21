package twitch

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// Defaults for Config fields left zero.
const (
	DefaultURL            = "wss://irc-ws.chat.twitch.tv:443"
	DefaultDialTimeout    = 10 * time.Second
	DefaultLoginTimeout   = 15 * time.Second
	DefaultIdlePing       = 15 * time.Second
	DefaultPongTimeout    = 5 * time.Second
	DefaultBackoffBase    = 500 * time.Millisecond
	DefaultBackoffMax     = 30 * time.Second
	DefaultJoinLimit      = 20
	DefaultJoinWindow     = 10 * time.Second
	DefaultOverlapTimeout = 60 * time.Second
	DefaultOverlapDrain   = 2 * time.Second
	DefaultCloseTimeout   = 2 * time.Second
	DefaultDrainTimeout   = 10 * time.Second
)

// keyConn is the log attribute naming a connection.
const keyConn = "conn"

// Config configures a Client.
type Config struct {
	URL          string   // ws://, wss://, irc://host:port or ircs://host:port
	Token        string   // OAuth user token, with or without "oauth:"; "" logs in anonymously
	Nick         string   // login; required with a token, else a random justinfan<digits>
	Channels     []string // channel logins, without '#'
	MaxLineBytes int      // longer lines are counted and discarded (irc.DefaultMaxLineBytes)

	DialTimeout    time.Duration // dial plus TLS/WebSocket handshake
	LoginTimeout   time.Duration // from dial to the server's welcome (001)
	IdlePing       time.Duration // send PING after this long without input
	PongTimeout    time.Duration // reconnect when our PING is unanswered this long
	BackoffBase    time.Duration // first reconnect delay bound (full jitter)
	BackoffMax     time.Duration // cap of the reconnect delay bound
	JoinLimit      int           // channel JOINs allowed per JoinWindow
	JoinWindow     time.Duration
	OverlapTimeout time.Duration // on RECONNECT, longest wait for the new connection to join every channel
	OverlapDrain   time.Duration // then how long the old connection keeps delivering (unless the server closes it first)
	CloseTimeout   time.Duration // wait for the server to acknowledge our close
	DrainTimeout   time.Duration // after Run's ctx is done, how long readers may wait to hand lines on

	TLSConfig    *tls.Config                                // for wss and ircs; nil uses the system roots
	SetConnected func(ok bool)                              // called when the client gains or loses a logged-in connection
	Logger       *slog.Logger                               // nil discards
	Now          func() time.Time                           // for the JOIN limiter; nil is time.Now
	Sleep        func(context.Context, time.Duration) error // for the JOIN limiter; nil sleeps
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.URL == "" {
		c.URL = DefaultURL
	}
	if c.MaxLineBytes <= 0 {
		c.MaxLineBytes = irc.DefaultMaxLineBytes
	}
	def(&c.DialTimeout, DefaultDialTimeout)
	def(&c.LoginTimeout, DefaultLoginTimeout)
	def(&c.IdlePing, DefaultIdlePing)
	def(&c.PongTimeout, DefaultPongTimeout)
	def(&c.BackoffBase, DefaultBackoffBase)
	def(&c.BackoffMax, DefaultBackoffMax)
	def(&c.JoinWindow, DefaultJoinWindow)
	def(&c.OverlapTimeout, DefaultOverlapTimeout)
	def(&c.OverlapDrain, DefaultOverlapDrain)
	def(&c.CloseTimeout, DefaultCloseTimeout)
	def(&c.DrainTimeout, DefaultDrainTimeout)
	if c.JoinLimit <= 0 {
		c.JoinLimit = DefaultJoinLimit
	}
	if c.SetConnected == nil {
		c.SetConnected = func(bool) {}
	}
	if c.Logger == nil {
		c.Logger = logging.Discard()
	}
}

// NormalizeChannel returns a channel login without '#', lower-cased.
func NormalizeChannel(s string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimSpace(s), "#"))
}

// ValidChannel reports whether s (normalized) is a possible Twitch login:
// 1 to 25 of [a-z0-9_].
func ValidChannel(s string) bool {
	if len(s) == 0 || len(s) > 25 {
		return false
	}
	for i := range len(s) {
		b := s[i]
		if !('a' <= b && b <= 'z' || '0' <= b && b <= '9' || b == '_') {
			return false
		}
	}
	return true
}

// Client keeps one logged-in connection (two during a reconnect overlap)
// joined to the configured channels and sends their chat and moderation
// lines to out.
type Client struct {
	cfg  Config
	nick string
	pass string // "oauth:<token>" or "" when anonymous

	out     chan<- *Batch
	m       *metrics.Metrics
	log     *slog.Logger
	sampler *logging.Sampler
	joins   *joinLimiter

	keepaliveTick time.Duration
	nextID        atomic.Uint32
	current       atomic.Pointer[conn]

	abort     chan struct{} // closed when readers must stop waiting for the pipeline
	abortOnce sync.Once
}

// New returns a Client that sends batches to out. Run closes out when it
// returns.
func New(cfg Config, out chan<- *Batch, m *metrics.Metrics) (*Client, error) {
	cfg.setDefaults()
	if len(cfg.Channels) == 0 {
		return nil, errors.New("twitch: no channels to join")
	}
	chans := make([]string, 0, len(cfg.Channels))
	seen := make(map[string]bool, len(cfg.Channels))
	for _, ch := range cfg.Channels {
		ch = NormalizeChannel(ch)
		if !ValidChannel(ch) {
			return nil, fmt.Errorf("twitch: invalid channel name %q", ch)
		}
		if !seen[ch] {
			seen[ch] = true
			chans = append(chans, ch)
		}
	}
	cfg.Channels = chans
	if _, err := url.Parse(cfg.URL); err != nil {
		return nil, fmt.Errorf("twitch: parse url: %w", err)
	}
	cl := &Client{
		cfg:     cfg,
		out:     out,
		m:       m,
		log:     cfg.Logger,
		sampler: logging.NewSampler(10, 10*time.Second),
		joins:   newJoinLimiter(cfg.JoinLimit, cfg.JoinWindow),
		abort:   make(chan struct{}),
	}
	if cfg.Now != nil {
		cl.joins.now = cfg.Now
	}
	if cfg.Sleep != nil {
		cl.joins.sleep = cfg.Sleep
	}
	switch tok := strings.TrimSpace(cfg.Token); {
	case tok == "":
		cl.nick = cfg.Nick
		if cl.nick == "" {
			cl.nick = fmt.Sprintf("justinfan%d", 10000+rand.IntN(90000))
		}
	case cfg.Nick == "":
		return nil, errors.New("twitch: a token needs a nick")
	default:
		cl.nick = cfg.Nick
		if !strings.HasPrefix(tok, "oauth:") {
			tok = "oauth:" + tok
		}
		cl.pass = tok
	}
	cl.nick = strings.ToLower(cl.nick)
	cl.keepaliveTick = min(max(min(cfg.IdlePing, cfg.PongTimeout, cfg.LoginTimeout)/5, 5*time.Millisecond), time.Second)
	return cl, nil
}

// Nick returns the login the client uses.
func (cl *Client) Nick() string { return cl.nick }

// Run connects and keeps a connection until ctx is done, then closes it
// cleanly (a WebSocket close frame) and lets its reader hand on what it has
// read, waiting at most DrainTimeout for the pipeline. It returns nil after
// ctx is done, or an error wrapping ErrAuth when Twitch rejects the login.
// Run closes the batch channel before returning.
func (cl *Client) Run(ctx context.Context) (err error) {
	var wg sync.WaitGroup
	cl.m.ConnectionState.Set(metrics.StateDisconnected)
	cl.cfg.SetConnected(false)
	stopAbort := context.AfterFunc(ctx, cl.startAbortTimer)
	defer func() {
		stopAbort()
		cl.startAbortTimer() // never wait forever for a stuck pipeline
		wg.Wait()
		close(cl.out)
		cl.cfg.SetConnected(false)
		cl.m.ConnectionState.Set(metrics.StateDisconnected)
		cl.m.ChannelsJoined.Set(0)
	}()

	attempt := 0
	var cur *conn
	var loggedIn, joinedAll <-chan struct{}
	for {
		if cur == nil {
			cl.m.ConnectionState.Set(metrics.StateConnecting)
			c, err := cl.connect(ctx, &wg)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				d := cl.backoff(attempt)
				attempt++
				cl.log.Warn("cannot connect to twitch", logging.Err(err),
					slog.Int(logging.KeyAttempt, attempt), slog.String("retry_in", d.String()))
				if sleepCtx(ctx, d) != nil {
					return nil
				}
				continue
			}
			cur = c
			cl.setCurrent(c)
			loggedIn, joinedAll = c.loggedIn, c.joinedAll
		}
		select {
		case <-ctx.Done():
			cur.shutdown()
			return nil
		case <-loggedIn:
			loggedIn = nil
			attempt = 0
			cl.cfg.SetConnected(true)
			cl.m.ConnectionState.Set(cur.state())
		case <-joinedAll:
			joinedAll = nil
			cl.m.ConnectionState.Set(cur.state())
		case <-cur.done:
			if cur.reason == endAuth {
				return fmt.Errorf("log in to twitch as %q: %w", cl.nick, cur.err)
			}
			cl.cfg.SetConnected(false)
			cl.m.ConnectionState.Set(metrics.StateDisconnected)
			cl.m.Reconnects[reconnectReason(cur.reason)].Inc()
			d := cl.backoff(attempt)
			attempt++
			cl.log.Warn("twitch connection lost", slog.Uint64(keyConn, uint64(cur.id)),
				slog.String(logging.KeyReason, cur.reason.String()), logging.Err(cur.err),
				slog.String("retry_in", d.String()))
			cur = nil
			if sleepCtx(ctx, d) != nil {
				return nil
			}
		case <-cur.reconnect:
			cl.m.Reconnects[metrics.ReconnectServer].Inc()
			next, err := cl.makeBeforeBreak(ctx, cur, &wg)
			if err != nil {
				return err
			}
			if next == nil {
				return nil
			}
			cur = next
			cl.setCurrent(next)
			loggedIn, joinedAll = next.loggedIn, next.joinedAll
		}
	}
}

// makeBeforeBreak replaces old after a RECONNECT: it connects, logs in and
// joins on a new connection while old keeps delivering, then closes old.
// Lines seen on both are de-duplicated downstream by message id. It returns
// (nil, nil) when ctx is done and an error only for a rejected login.
func (cl *Client) makeBeforeBreak(ctx context.Context, old *conn, wg *sync.WaitGroup) (*conn, error) {
	for attempt := 0; ; attempt++ {
		nc, err := cl.connect(ctx, wg)
		if err != nil {
			if ctx.Err() != nil {
				old.shutdown()
				return nil, nil
			}
			d := cl.backoff(attempt)
			cl.log.Warn("cannot open replacement connection", logging.Err(err), slog.String("retry_in", d.String()))
			if sleepCtx(ctx, d) != nil {
				old.shutdown()
				return nil, nil
			}
			continue
		}
		timer := time.NewTimer(cl.cfg.OverlapTimeout)
		select {
		case <-nc.joinedAll:
		case <-timer.C:
			cl.log.Warn("replacement connection has not joined every channel; switching anyway",
				slog.Int("joined", int(nc.joinedN.Load())), slog.Int("channels", len(cl.cfg.Channels)))
		case <-nc.done:
			timer.Stop()
			if nc.reason == endAuth {
				old.shutdown()
				return nil, fmt.Errorf("log in to twitch as %q: %w", cl.nick, nc.err)
			}
			cl.log.Warn("replacement connection failed", slog.String(logging.KeyReason, nc.reason.String()), logging.Err(nc.err))
			if sleepCtx(ctx, cl.backoff(attempt)) != nil {
				old.shutdown()
				return nil, nil
			}
			continue
		case <-ctx.Done():
			timer.Stop()
			nc.shutdown()
			old.shutdown()
			return nil, nil
		}
		timer.Stop()
		cl.log.Info("switched connection", slog.Uint64("old", uint64(old.id)), slog.Uint64("new", uint64(nc.id)))
		cl.retire(ctx, old)
		return nc, nil
	}
}

// retire closes old once it has had OverlapDrain to deliver what the server
// had already queued for it (messages sent before the new connection joined
// their channel reach only old), or as soon as the server closes it. Lines it
// still delivers are de-duplicated against the new connection downstream.
func (cl *Client) retire(ctx context.Context, old *conn) {
	go func() {
		t := time.NewTimer(cl.cfg.OverlapDrain)
		defer t.Stop()
		select {
		case <-old.done:
		case <-t.C:
		case <-ctx.Done():
		}
		old.shutdown()
	}()
}

// connect dials a new connection and starts it.
func (cl *Client) connect(ctx context.Context, wg *sync.WaitGroup) (*conn, error) {
	dctx, cancel := context.WithTimeout(ctx, cl.cfg.DialTimeout)
	w, err := dial(dctx, cl.cfg.URL, cl.cfg.MaxLineBytes, cl.cfg.TLSConfig)
	cancel()
	if err != nil {
		cl.m.ConnectAttempts[1].Inc()
		return nil, err
	}
	cl.m.ConnectAttempts[0].Inc()
	c := newConn(cl, cl.nextID.Add(1), w)
	c.log.Info("connected", slog.String(logging.KeyAddr, redactURL(cl.cfg.URL)))
	c.start(wg)
	return c, nil
}

func (cl *Client) setCurrent(c *conn) {
	cl.current.Store(c)
	cl.m.ChannelsJoined.Set(float64(c.joinedN.Load()))
}

// joinedChanged updates the joined-channels gauge for the current connection.
func (cl *Client) joinedChanged(c *conn) {
	if cl.current.Load() == c {
		cl.m.ChannelsJoined.Set(float64(c.joinedN.Load()))
	}
}

// startAbortTimer releases readers blocked on the pipeline DrainTimeout
// from now. Only the first call counts.
func (cl *Client) startAbortTimer() {
	cl.abortOnce.Do(func() {
		time.AfterFunc(cl.cfg.DrainTimeout, func() { close(cl.abort) })
	})
}

// backoff returns the delay before reconnect attempt n (0-based):
// uniformly random in (0, min(BackoffMax, BackoffBase*2^n)] ("full jitter").
func (cl *Client) backoff(n int) time.Duration {
	bound := cl.cfg.BackoffMax
	if n < 30 {
		if d := cl.cfg.BackoffBase << n; d > 0 && d < bound {
			bound = d
		}
	}
	return time.Duration(rand.Int64N(int64(bound))) + 1
}

func reconnectReason(r endReason) metrics.Reconnect {
	switch r {
	case endEOF, endClosed:
		return metrics.ReconnectEOF
	case endPingTimeout:
		return metrics.ReconnectPingTimeout
	}
	return metrics.ReconnectError
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid url)"
	}
	return u.Redacted()
}
