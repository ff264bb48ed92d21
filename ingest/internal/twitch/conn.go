package twitch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/irc"
	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// endReason is why a connection ended.
type endReason uint8

const (
	endNone        endReason = iota
	endClosed                // the client closed it (shutdown, or replaced after RECONNECT)
	endEOF                   // the server closed it
	endError                 // read, write or protocol error
	endPingTimeout           // no PONG to our PING in time
	endAuth                  // the server rejected the login
)

func (r endReason) String() string {
	return [...]string{"none", "closed", "eof", "error", "ping_timeout", "auth_failed"}[r]
}

// writeTimeout bounds every write; a server that does not read for this
// long is treated as gone.
const writeTimeout = 10 * time.Second

// authFailures are the NOTICE texts with which Twitch rejects a login.
var authFailures = [][]byte{
	[]byte("Login authentication failed"),
	[]byte("Improperly formatted auth"),
	[]byte("Login unsuccessful"),
	[]byte("Invalid NICK"),
}

// conn is one connection to a Twitch chat server: a reader goroutine
// (lines in, batches out), a writer goroutine (handshake, JOINs, PONGs and
// keepalive PINGs) and a joiner goroutine (JOINs within the rate limit).
type conn struct {
	id      uint32
	cl      *Client
	w       wire
	log     *slog.Logger
	started time.Time

	ctx    context.Context // cancelled when the connection ends
	cancel context.CancelFunc

	pongs chan []byte // answers to server PINGs, sent before anything else
	outq  chan []byte // handshake and JOIN lines

	lastRead    atomic.Int64 // unix ns of the last line read
	blocked     atomic.Bool  // the reader waits for the pipeline to take a batch
	unblockedAt atomic.Int64 // unix ns the reader last stopped waiting
	pingSentAt  atomic.Int64 // unix ns of our unanswered PING, 0 if none
	joinedN     atomic.Int32 // channels confirmed joined
	closing     atomic.Bool  // the client started closing this connection

	loggedIn  chan struct{} // closed on the welcome (001)
	joinedAll chan struct{} // closed when every channel is joined
	reconnect chan struct{} // closed when the server sent RECONNECT
	done      chan struct{} // closed when all goroutines have exited

	endOnce sync.Once
	reason  endReason // set once, before ctx is cancelled
	err     error

	// Owned by the reader goroutine.
	joined                 map[string]bool
	sawLogin, sawReconnect bool
	msg                    irc.Message
}

func newConn(cl *Client, id uint32, w wire) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	c := &conn{
		id: id, cl: cl, w: w, started: time.Now(),
		log:    cl.log.With(keyConn, id),
		ctx:    ctx,
		cancel: cancel,
		pongs:  make(chan []byte, 4),
		outq:   make(chan []byte, 16),

		loggedIn:  make(chan struct{}),
		joinedAll: make(chan struct{}),
		reconnect: make(chan struct{}),
		done:      make(chan struct{}),
		joined:    make(map[string]bool, len(cl.cfg.Channels)),
	}
	for _, ch := range cl.cfg.Channels {
		c.joined[ch] = false
	}
	c.lastRead.Store(c.started.UnixNano())
	return c
}

// start sends the handshake and starts the goroutines. wg tracks the
// connection until all of them have exited.
func (c *conn) start(wg *sync.WaitGroup) {
	c.outq <- []byte("CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership")
	if c.cl.pass != "" {
		c.outq <- []byte("PASS " + c.cl.pass)
	}
	c.outq <- []byte("NICK " + c.cl.nick)

	var inner sync.WaitGroup
	inner.Add(3)
	go func() { defer inner.Done(); c.readLoop() }()
	go func() { defer inner.Done(); c.writeLoop() }()
	go func() { defer inner.Done(); c.joinLoop() }()
	c.cl.m.ConnectionsOpen.Inc()
	wg.Add(1)
	go func() {
		inner.Wait()
		c.cl.m.ConnectionsOpen.Dec()
		close(c.done)
		wg.Done()
	}()
}

// end ends the connection once: it records why, stops the writer and
// joiner and closes the transport so the reader returns.
func (c *conn) end(r endReason, err error) {
	c.endOnce.Do(func() {
		if c.closing.Load() && r != endAuth {
			r = endClosed
		}
		c.reason, c.err = r, err
		c.cancel()
		_ = c.w.close()
	})
}

// shutdown closes the connection cleanly: a WebSocket close frame (or TCP
// half-close), then the reader keeps delivering until the server closes
// its side or closeTimeout passes.
func (c *conn) shutdown() {
	if c.closing.Swap(true) || c.ctx.Err() != nil {
		return
	}
	c.w.closeGraceful(time.Now().Add(writeTimeout))
	t := time.AfterFunc(c.cl.cfg.CloseTimeout, func() { c.end(endClosed, nil) })
	context.AfterFunc(c.ctx, func() { t.Stop() })
}

// readLoop reads lines until the connection ends, consumes protocol lines
// and hands chat and moderation lines to the pipeline in batches.
func (c *conn) readLoop() {
	m := c.cl.m
	var b *Batch
	for {
		r, err := c.w.read()
		if err != nil {
			if b != nil {
				c.send(b)
			}
			switch {
			case c.closing.Load():
				c.end(endClosed, err)
			case isCleanClose(err):
				c.end(endEOF, err)
			default:
				c.end(endError, err)
			}
			return
		}
		now := time.Now()
		c.lastRead.Store(now.UnixNano())
		switch r.status {
		case statusEmptyFrame:
			m.BadInput[metrics.BadEmptyFrame].Inc()
		case statusOversize:
			k := metrics.KindOf(r.cmd)
			m.Received[k].Inc()
			m.Oversize[k].Inc()
			c.badInput(metrics.BadOversize, nil, now)
		case statusTruncated:
			k := metrics.KindOf(irc.CommandOf(r.line))
			m.Received[k].Inc()
			m.Dropped[k][metrics.DropTruncated].Inc()
			c.badInput(metrics.BadTruncated, r.line, now)
		default:
			cmd := irc.CommandOf(r.line)
			k := metrics.KindOf(cmd)
			m.Received[k].Inc()
			if k == metrics.Control {
				c.control(cmd, r.line)
				break
			}
			if cmd == irc.CmdRoomState {
				c.markJoined(r.line)
			}
			if b == nil {
				b = NewBatch(c.id, now)
			}
			b.Add(r.line, cmd)
			m.InFlight[k].Inc()
		}
		// Hand the batch on when it is full or the next read could block.
		if b != nil && (b.full() || !c.w.buffered()) {
			c.send(b)
			b = nil
		}
	}
}

// send hands b to the pipeline, blocking while the pipeline is full (this
// is the backpressure: the connection is not read meanwhile). After
// shutdown, once the drain deadline has passed, the lines are dropped.
func (c *conn) send(b *Batch) {
	select {
	case c.cl.out <- b:
		return
	default:
	}
	c.blocked.Store(true)
	select {
	case c.cl.out <- b:
	case <-c.cl.abort:
		for i := range b.Len() {
			k := metrics.KindOf(b.Command(i))
			c.cl.m.InFlight[k].Dec()
			c.cl.m.Dropped[k][metrics.DropShutdown].Inc()
		}
		b.Release()
	}
	c.unblockedAt.Store(time.Now().UnixNano())
	c.blocked.Store(false)
}

// control handles a protocol line and accounts for it.
func (c *conn) control(cmd irc.Command, line []byte) {
	m := c.cl.m
	switch cmd {
	case irc.CmdPing:
		m.PingsFromServer.Inc()
		c.pong(line)
	case irc.CmdPong:
		c.pingSentAt.Store(0)
	case irc.CmdWelcome:
		if !c.sawLogin && irc.Parse(line, 0, &c.msg) == nil && string(c.msg.RawCommand) == "001" {
			c.sawLogin = true
			c.log.Info("logged in", slog.String("nick", c.cl.nick))
			close(c.loggedIn)
		}
	case irc.CmdJoin:
		if irc.Parse(line, 0, &c.msg) == nil && bytes.EqualFold(c.msg.Nick, []byte(c.cl.nick)) {
			c.markChannel(c.msg.Channel)
		}
	case irc.CmdReconnect:
		if !c.sawReconnect {
			c.sawReconnect = true
			c.log.Info("server asked to reconnect")
			close(c.reconnect)
		}
	case irc.CmdNotice:
		if irc.Parse(line, 0, &c.msg) == nil {
			for _, f := range authFailures {
				if bytes.Contains(c.msg.Trailing, f) {
					c.end(endAuth, fmt.Errorf("%w: server said %q", ErrAuth, c.msg.Trailing))
					break
				}
			}
		}
	case irc.CmdCap:
		if bytes.Contains(line, []byte(" NAK ")) {
			c.log.Warn("server refused capabilities; tags may be missing", slog.String("line", excerpt(line)))
		}
	case irc.CmdPart, irc.CmdNames, irc.CmdGlobalUserState, irc.CmdUserState, irc.CmdWhisper:
	default:
		m.Dropped[metrics.Control][metrics.DropUnknown].Inc()
		if ok, suppressed := c.cl.sampler.Allow(time.Now()); ok {
			c.log.LogAttrs(context.Background(), slog.LevelDebug, "unknown command",
				slog.String("line", excerpt(line)), slog.Int64("suppressed", suppressed))
		}
		return
	}
	m.Filter(metrics.Control, cmd)
}

// pong queues the answer to a server PING without blocking the reader.
func (c *conn) pong(line []byte) {
	arg := []byte("tmi.twitch.tv")
	if irc.Parse(line, 0, &c.msg) == nil {
		switch {
		case c.msg.HasTrailing:
			arg = c.msg.Trailing
		case len(c.msg.Params) > 0:
			arg = c.msg.Params
		}
	}
	p := append([]byte("PONG :"), arg...)
	select {
	case c.pongs <- p:
	default:
		c.log.Warn("dropping PONG: writer is behind")
	}
}

// markJoined records the channel of a ROOMSTATE as joined.
func (c *conn) markJoined(line []byte) {
	if irc.Parse(line, 0, &c.msg) == nil {
		c.markChannel(c.msg.Channel)
	}
}

func (c *conn) markChannel(ch []byte) {
	done, ok := c.joined[string(ch)]
	if !ok || done {
		return
	}
	c.joined[string(ch)] = true
	n := c.joinedN.Add(1)
	c.cl.joinedChanged(c)
	if int(n) == len(c.joined) {
		c.log.Info("joined all channels", slog.Int(logging.KeyCount, int(n)))
		close(c.joinedAll)
	}
}

// writeLoop writes queued lines and keeps the link alive.
func (c *conn) writeLoop() {
	tick := time.NewTicker(c.cl.keepaliveTick)
	defer tick.Stop()
	write := func(p []byte) bool {
		if err := c.w.writeLine(p, time.Now().Add(writeTimeout)); err != nil {
			c.end(endError, fmt.Errorf("write: %w", err))
			return false
		}
		return true
	}
	for {
		select {
		case p := <-c.pongs:
			if !write(p) {
				return
			}
		case p := <-c.outq:
			if !write(p) {
				return
			}
		case now := <-tick.C:
			if !c.keepalive(now, write) {
				return
			}
		case <-c.ctx.Done():
			return
		}
	}
}

// keepalive sends a PING on an idle link and ends the connection when the
// PONG is late. Time the reader spent blocked on the pipeline does not
// count: an unread PONG is not a missing one.
func (c *conn) keepalive(now time.Time, write func([]byte) bool) bool {
	if c.closing.Load() || c.blocked.Load() {
		return true
	}
	cfg := &c.cl.cfg
	t := now.UnixNano()
	if !c.sawLoginAtomic() && now.Sub(c.started) > cfg.LoginTimeout {
		c.end(endError, fmt.Errorf("no welcome from the server within %v", cfg.LoginTimeout))
		return false
	}
	active := max(c.lastRead.Load(), c.unblockedAt.Load())
	if sent := c.pingSentAt.Load(); sent != 0 {
		if time.Duration(t-max(sent, c.unblockedAt.Load())) > cfg.PongTimeout {
			c.end(endPingTimeout, fmt.Errorf("no PONG within %v", cfg.PongTimeout))
			return false
		}
		return true
	}
	if time.Duration(t-active) >= cfg.IdlePing {
		c.pingSentAt.Store(t) // before writing: the PONG may arrive at once
		c.cl.m.PingsFromClient.Inc()
		return write([]byte("PING :streamsafe"))
	}
	return true
}

// state returns the connection_state gauge value for c.
func (c *conn) state() float64 {
	select {
	case <-c.joinedAll:
		return metrics.StateJoined
	default:
	}
	if c.sawLoginAtomic() {
		return metrics.StateConnected
	}
	return metrics.StateConnecting
}

func (c *conn) sawLoginAtomic() bool {
	select {
	case <-c.loggedIn:
		return true
	default:
		return false
	}
}

// joinLoop joins every channel once logged in, in JOIN lines of at most
// maxJoinLine bytes and within the client's JOIN limit.
func (c *conn) joinLoop() {
	select {
	case <-c.loggedIn:
	case <-c.ctx.Done():
		return
	}
	chans := c.cl.cfg.Channels
	for i := 0; i < len(chans); {
		n, err := c.cl.joins.take(c.ctx, len(chans)-i)
		if err != nil {
			return
		}
		for _, line := range joinLines(chans[i : i+n]) {
			select {
			case c.outq <- line:
			case <-c.ctx.Done():
				return
			}
		}
		i += n
	}
}

// maxJoinLine keeps JOIN lines under IRC's 512-byte line limit.
const maxJoinLine = 500

// joinLines returns "JOIN #a,#b,..." lines of at most maxJoinLine bytes.
func joinLines(chans []string) [][]byte {
	var lines [][]byte
	line := []byte("JOIN ")
	for _, ch := range chans {
		if len(line) > len("JOIN ") && len(line)+2+len(ch) > maxJoinLine {
			lines = append(lines, line)
			line = []byte("JOIN ")
		}
		if len(line) > len("JOIN ") {
			line = append(line, ',')
		}
		line = append(append(line, '#'), ch...)
	}
	if len(line) > len("JOIN ") {
		lines = append(lines, line)
	}
	return lines
}

// badInput counts and logs (sampled) a malformed input.
func (c *conn) badInput(kind metrics.BadInput, line []byte, now time.Time) {
	c.cl.m.BadInput[kind].Inc()
	if ok, suppressed := c.cl.sampler.Allow(now); ok {
		c.log.LogAttrs(context.Background(), slog.LevelWarn, "bad input",
			slog.String(logging.KeyReason, kind.String()),
			slog.String("line", excerpt(line)),
			slog.Int64("suppressed", suppressed))
	}
}

// excerpt returns the start of line for a log message.
func excerpt(line []byte) string {
	const n = 160
	if len(line) > n {
		return string(line[:n]) + "..."
	}
	return string(line)
}

// ErrAuth is returned by Client.Run when Twitch rejects the login.
var ErrAuth = errors.New("twitch: authentication failed")
