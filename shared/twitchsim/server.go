package twitchsim

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// Sentinel errors.
var (
	ErrUnknownUser    = errors.New("twitchsim: unknown user")
	ErrUnknownMessage = errors.New("twitchsim: unknown or expired message id")
	ErrUnknownChannel = errors.New("twitchsim: unknown channel")
	ErrStopped        = errors.New("twitchsim: generation stopped")
	ErrServing        = errors.New("twitchsim: server already serving")
)

// msgRec tracks the delivery of one generated PRIVMSG across connections.
type msgRec struct {
	refs      atomic.Int32
	delivered atomic.Bool
	ch        int32
}

// chanState is a channel clients can join; sim >= 0 for #simchanN.
type chanState struct {
	name   string
	roomID string
	sim    int32
	conns  atomic.Pointer[[]*conn] // copy-on-write, written under Server.mu
}

// Listeners are the sockets a Server serves; nil disables one.
type Listeners struct {
	WS      net.Listener
	TCP     net.Listener
	Control net.Listener
}

// Server is a simulated Twitch chat server. Create it with New.
type Server struct {
	cfg     Config
	log     *slog.Logger
	gen     *generator
	tokens  map[string]struct{}
	truth   *truthWriter
	mux     *http.ServeMux
	upgrade websocket.Upgrader
	recPool sync.Pool
	sims    []*chanState
	started time.Time
	helix   *Helix      // nil unless Config.Helix
	mods    *Moderators // nil unless Config.Moderators

	// observer is called by the generator with every PRIVMSG (SetObserver).
	observer atomic.Pointer[func(*TruthRecord)]

	// mu guards connections, channel membership and lifecycle fields.
	mu        sync.Mutex
	conns     map[uint64]*conn
	chans     map[string]*chanState
	nextConn  uint64
	ls        Listeners
	serving   bool
	closing   bool
	cancel    context.CancelFunc
	serveDone chan struct{}
	serveErr  error

	wg sync.WaitGroup // connection goroutines

	// recentMu guards the ring of recent messages used by lookups.
	recentMu  sync.Mutex
	recent    []msgMeta
	recentPos int
	recentN   int

	rateBits   atomic.Uint64
	paused     atomic.Bool
	stopOnce   sync.Once
	stopCh     chan struct{}
	genDone    chan struct{}
	genRunning atomic.Bool
	ctrl       chan RaidOptions

	generated        atomic.Uint64
	sent             atomic.Uint64
	undelivered      atomic.Uint64
	dropped          atomic.Uint64
	droppedSlow      atomic.Uint64
	slowDisconnects  atomic.Uint64
	lagSkipped       atomic.Uint64
	raids            atomic.Uint64
	reconnectsSent   atomic.Uint64
	disconnects      atomic.Uint64
	pingTimeouts     atomic.Uint64
	authFailures     atomic.Uint64
	joinsRateLimited atomic.Uint64
	truthRecords     atomic.Uint64
	sentByChan       []atomic.Uint64
}

// New validates cfg, builds the simulated population and corpora, and opens
// the truth file.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.effective()
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{
		cfg:        cfg,
		log:        log,
		gen:        newGenerator(&cfg),
		tokens:     map[string]struct{}{},
		conns:      map[uint64]*conn{},
		chans:      map[string]*chanState{},
		recent:     make([]msgMeta, cfg.RecentMessages),
		stopCh:     make(chan struct{}),
		genDone:    make(chan struct{}),
		ctrl:       make(chan RaidOptions, 16),
		sentByChan: make([]atomic.Uint64, cfg.Channels),
		upgrade: websocket.Upgrader{
			ReadBufferSize:  4096,
			WriteBufferSize: cfg.MaxFrameBytes,
			Subprotocols:    []string{"irc"},
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}
	s.recPool.New = func() any { return new(msgRec) }
	s.rateBits.Store(math.Float64bits(cfg.Rate))
	s.paused.Store(cfg.StartPaused)
	for _, t := range cfg.Tokens {
		s.tokens[t] = struct{}{}
	}
	for i, c := range s.gen.channels {
		cs := &chanState{name: c.name, roomID: c.roomID, sim: int32(i)}
		s.sims = append(s.sims, cs)
		s.chans[c.name] = cs
	}
	if cfg.Helix != nil {
		hc := *cfg.Helix
		if hc.Logger == nil {
			hc.Logger = log.With("component", "helix")
		}
		h, err := NewHelix(hc, s, s)
		if err != nil {
			return nil, err
		}
		s.helix = h
	}
	if cfg.Moderators != nil {
		mc := *cfg.Moderators
		if mc.Logger == nil {
			mc.Logger = log.With("component", "moderators")
		}
		m, err := NewModerators(mc, s.helix, cfg.ModSink)
		if err != nil {
			return nil, err
		}
		s.mods = m
	}
	if cfg.TruthFile != "" {
		tw, err := openTruth(cfg.TruthFile)
		if err != nil {
			return nil, err
		}
		s.truth = tw
	}
	s.mux = s.newMux()
	return s, nil
}

// Config returns the effective configuration (scenario presets applied).
func (s *Server) Config() Config { return s.cfg }

// Listen binds the non-empty addresses of the Config; the address
// accessors (WSURL, TCPAddr, ControlURL) report them from then on.
func (s *Server) Listen() (Listeners, error) {
	var ls Listeners
	bind := func(addr string, dst *net.Listener) error {
		if addr == "" {
			return nil
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %q: %w", addr, err)
		}
		*dst = l
		return nil
	}
	for _, b := range []struct {
		addr string
		dst  *net.Listener
	}{{s.cfg.WSAddr, &ls.WS}, {s.cfg.TCPAddr, &ls.TCP}, {s.cfg.ControlAddr, &ls.Control}} {
		if err := bind(b.addr, b.dst); err != nil {
			ls.close()
			return Listeners{}, err
		}
	}
	s.mu.Lock()
	if !s.serving {
		s.ls = ls // addresses are known before Serve
	}
	s.mu.Unlock()
	return ls, nil
}

func (ls Listeners) close() {
	for _, l := range []net.Listener{ls.WS, ls.TCP, ls.Control} {
		if l != nil {
			_ = l.Close()
		}
	}
}

// ListenAndServe binds the configured addresses and serves until ctx is done.
func (s *Server) ListenAndServe(ctx context.Context) error {
	ls, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ls)
}

// Start binds the configured addresses and serves in the background until
// ctx is done or Close is called. Clients may connect once it returns.
func (s *Server) Start(ctx context.Context) error {
	ls, err := s.Listen()
	if err != nil {
		return err
	}
	ready := make(chan struct{})
	go func() {
		_ = s.serve(ctx, ls, ready)
	}()
	<-ready
	return nil
}

// Serve serves the listeners (which it closes) and runs the generator until
// ctx is done or Close is called. It can be called once.
func (s *Server) Serve(ctx context.Context, ls Listeners) error {
	return s.serve(ctx, ls, nil)
}

func (s *Server) serve(ctx context.Context, ls Listeners, ready chan struct{}) error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		ls.close()
		if ready != nil {
			close(ready)
		}
		return ErrServing
	}
	ctx, cancel := context.WithCancel(ctx)
	s.serving, s.cancel, s.serveDone, s.ls = true, cancel, make(chan struct{}), ls
	s.started = time.Now()
	s.mu.Unlock()
	if ready != nil {
		close(ready)
	}

	var wsSrv, ctlSrv *http.Server
	g, gctx := errgroup.WithContext(ctx)
	if ls.TCP != nil {
		g.Go(func() error { return s.acceptTCP(gctx, ls.TCP) })
	}
	if ls.WS != nil {
		wsSrv = &http.Server{Handler: http.HandlerFunc(s.handleWS), ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error { return serveHTTP(wsSrv, ls.WS, "websocket") })
	}
	if ls.Control != nil {
		ctlSrv = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
		g.Go(func() error { return serveHTTP(ctlSrv, ls.Control, "control") })
	}
	g.Go(func() error { s.runGenerator(gctx); return nil })
	g.Go(func() error { s.maintain(gctx); return nil })
	if s.mods != nil && s.cfg.ModeratorTick > 0 {
		g.Go(func() error { return s.mods.Run(gctx, s.cfg.ModeratorTick) })
	}
	g.Go(func() error {
		<-gctx.Done()
		s.Stop()
		ls.close()
		for _, hs := range []*http.Server{wsSrv, ctlSrv} {
			if hs != nil {
				sctx, c := context.WithTimeout(context.Background(), 2*time.Second)
				_ = hs.Shutdown(sctx)
				c()
			}
		}
		s.mu.Lock()
		s.closing = true
		all := make([]*conn, 0, len(s.conns))
		for _, c := range s.conns {
			all = append(all, c)
		}
		s.mu.Unlock()
		for _, c := range all {
			c.shutdown("server closing")
		}
		return nil
	})
	err := g.Wait()
	s.wg.Wait()
	<-s.genDone
	if terr := s.closeTruth(); err == nil {
		err = terr
	}
	s.mu.Lock()
	s.serveErr = err
	close(s.serveDone)
	s.mu.Unlock()
	cancel()
	return err
}

func serveHTTP(hs *http.Server, l net.Listener, what string) error {
	if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("serve %s: %w", what, err)
	}
	return nil
}

// Close stops generation, closes every connection and listener, flushes
// the truth file and waits for Serve to return.
func (s *Server) Close() error {
	s.mu.Lock()
	cancel, done := s.cancel, s.serveDone
	s.mu.Unlock()
	if cancel == nil {
		s.Stop()
		return s.closeTruth()
	}
	cancel()
	<-done
	return s.serveErr
}

func (s *Server) closeTruth() error {
	if s.truth == nil {
		return nil
	}
	return s.truth.close()
}

func addrOf(l net.Listener) string {
	if l == nil {
		return ""
	}
	return l.Addr().String()
}

// WSURL is the WebSocket URL ("ws://host:port/"), or "" when not serving it.
func (s *Server) WSURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := addrOf(s.ls.WS); a != "" {
		return "ws://" + a + "/"
	}
	return ""
}

// TCPAddr is the plain IRC address ("host:port"), or "" when not serving it.
func (s *Server) TCPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return addrOf(s.ls.TCP)
}

// ControlURL is the control API base URL ("http://host:port"), or "".
func (s *Server) ControlURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := addrOf(s.ls.Control); a != "" {
		return "http://" + a
	}
	return ""
}

// Mux returns the control API mux served on the control listener. Extra
// routes may be registered on it (Config.Helix already mounts a Helix).
func (s *Server) Mux() *http.ServeMux { return s.mux }

// Helix returns the simulated Helix API mounted on the control listener,
// or nil when Config.Helix is nil.
func (s *Server) Helix() *Helix { return s.helix }

// Moderators returns the simulated human moderators, or nil when
// Config.Moderators is nil. With ModeratorTick 0 the caller drives their
// Tick.
func (s *Server) Moderators() *Moderators { return s.mods }

// SetObserver makes the generator call f with every generated PRIVMSG, in
// generation order, before the message is queued to any connection; nil
// removes it. It may be called at any time. f runs on the generation loop:
// it must return quickly and never block (hand the record to a bounded
// buffer, as Moderators.Observe does). rec is reused after f returns; copy
// *rec to keep it.
//
// Cost: with no observer (and no Config.Moderators) the hot path pays one
// atomic load per message and stays allocation-free. Otherwise each
// message's TruthRecord is built once (shared by Config.Moderators and f):
// one 48-byte allocation for the message id string, plus one for the text
// of messages that address another user ("@name ..."), about 5 % of benign
// chat.
func (s *Server) SetObserver(f func(rec *TruthRecord)) {
	if f == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&f)
}

func (s *Server) acceptTCP(ctx context.Context, l net.Listener) error {
	for {
		nc, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return fmt.Errorf("accept tcp: %w", err)
		}
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		c := s.newConn("tcp", nc, nil)
		if c == nil {
			continue
		}
		go func() {
			defer s.wg.Done()
			c.readLoopTCP()
		}()
	}
}

func (s *Server) handleWS(w http.ResponseWriter, r *http.Request) {
	ws, err := s.upgrade.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has replied with an HTTP error
	}
	c := s.newConn("ws", ws.NetConn(), ws)
	if c == nil {
		return
	}
	defer s.wg.Done()
	c.readLoopWS()
}

// newConn registers a connection and starts its writer. It returns nil
// (closing nc) when the server is shutting down; otherwise the caller runs
// the read loop and calls s.wg.Done when it returns.
func (s *Server) newConn(transport string, nc net.Conn, ws *websocket.Conn) *conn {
	s.mu.Lock()
	if !s.serving || s.closing {
		s.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	s.nextConn++
	c := &conn{
		s: s, id: s.nextConn, transport: transport, remote: nc.RemoteAddr().String(), nc: nc, ws: ws,
		created: time.Now(), wake: make(chan struct{}, 1), dead: make(chan struct{}), chans: map[string]*chanState{},
	}
	s.conns[c.id] = c
	s.wg.Add(2)
	s.mu.Unlock()
	go c.writeLoop()
	s.log.Debug("connection accepted", "conn", c.id, "transport", transport, "remote", c.remote)
	return c
}

func hashRoomID(name string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(name))
	return strconv.FormatUint(600000000+uint64(h.Sum32()%100000000), 10)
}

// channelState returns the state of channel name (without '#'), creating
// it for non-simulated channels when create is set; s.mu must be held.
func (s *Server) channelState(name string, create bool) *chanState {
	cs := s.chans[name]
	if cs == nil && create {
		cs = &chanState{name: name, roomID: hashRoomID(name), sim: -1}
		s.chans[name] = cs
	}
	return cs
}

func (cs *chanState) members() []*conn {
	if p := cs.conns.Load(); p != nil {
		return *p
	}
	return nil
}

// subscribe joins c to channel name; false if already joined or closing.
func (s *Server) subscribe(c *conn, name string) (*chanState, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.conns[c.id]; !ok {
		return nil, false
	}
	if _, ok := c.chans[name]; ok {
		return nil, false
	}
	cs := s.channelState(name, true)
	old := cs.members()
	next := make([]*conn, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	cs.conns.Store(&next)
	c.chans[name] = cs
	return cs, true
}

// unsubscribe parts c from channel name; s.mu must not be held.
func (s *Server) unsubscribe(c *conn, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsubscribeLocked(c, name)
}

func (s *Server) unsubscribeLocked(c *conn, name string) bool {
	cs, ok := c.chans[name]
	if !ok {
		return false
	}
	delete(c.chans, name)
	old := cs.members()
	next := make([]*conn, 0, len(old))
	for _, o := range old {
		if o != c {
			next = append(next, o)
		}
	}
	cs.conns.Store(&next)
	return true
}

func (s *Server) unsubscribeAll(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range c.chans {
		s.unsubscribeLocked(c, name)
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name := range c.chans {
		s.unsubscribeLocked(c, name)
	}
	delete(s.conns, c.id)
}

func (s *Server) joined(c *conn, name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := c.chans[name]
	return ok
}

// markDelivered counts rec as sent the first time any connection wrote it.
func (s *Server) markDelivered(rec *msgRec) {
	if rec.delivered.CompareAndSwap(false, true) {
		s.sent.Add(1)
		s.sentByChan[rec.ch].Add(1)
	}
}

// release drops one reference; the last one classifies an undelivered
// message as dropped and recycles the record.
func (s *Server) release(rec *msgRec) {
	if rec.refs.Add(-1) != 0 {
		return
	}
	if !rec.delivered.Load() {
		s.dropped.Add(1)
	}
	rec.delivered.Store(false)
	s.recPool.Put(rec)
}

// targets returns the open connections with id (0 = all).
func (s *Server) targets(id uint64) []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*conn
	for _, c := range s.conns {
		if id == 0 || c.id == id {
			out = append(out, c)
		}
	}
	return out
}

// maintain sends server PINGs, enforces PONG, registration and RECONNECT
// deadlines, closes slow connections and runs the reconnect storm.
func (s *Server) maintain(ctx context.Context) {
	tick := 250 * time.Millisecond
	for _, d := range []time.Duration{s.cfg.PingInterval, s.cfg.PongTimeout, s.cfg.ReconnectGrace, s.cfg.SlowTimeout, s.cfg.ReconnectEvery} {
		if d > 0 && d/4 < tick {
			tick = d / 4
		}
	}
	tick = max(tick, 5*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	nextStorm := time.Now().Add(s.cfg.ReconnectEvery)
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ns := now.UnixNano()
			for _, c := range s.targets(0) {
				s.maintainConn(c, ns)
			}
			if s.cfg.ReconnectEvery > 0 && !now.Before(nextStorm) {
				nextStorm = now.Add(s.cfg.ReconnectEvery)
				s.Reconnect(0)
			}
		}
	}
}

func (s *Server) maintainConn(c *conn, now int64) {
	reg := c.regAt.Load()
	if reg == 0 {
		if s.cfg.RegisterTimeout > 0 && now-c.created.UnixNano() > int64(s.cfg.RegisterTimeout) {
			c.shutdown("registration timeout")
		}
		return
	}
	if at := c.reconnAt.Load(); at != 0 && now >= at {
		c.closeAfterFlush(killGraceful)
		return
	}
	c.mu.Lock()
	full := c.fullSince
	c.mu.Unlock()
	if full != 0 && now-full > int64(s.cfg.SlowTimeout) {
		c.dropSlow("queue full for SlowTimeout")
		return
	}
	if s.cfg.PingInterval <= 0 {
		return
	}
	if out := c.pingOut.Load(); out != 0 {
		if now-out > int64(s.cfg.PongTimeout) {
			s.pingTimeouts.Add(1)
			c.shutdown("ping timeout")
		}
		return
	}
	if now-c.lastPing.Load() >= int64(s.cfg.PingInterval) {
		c.lastPing.Store(now)
		c.pingOut.Store(now)
		c.send("PING :tmi.twitch.tv", false)
	}
}

// dropSlow closes a connection that did not keep up, counting it once.
func (c *conn) dropSlow(why string) {
	if c.slowDropped.CompareAndSwap(false, true) {
		c.s.slowDisconnects.Add(1)
	}
	c.shutdown("slow consumer: " + why)
}
