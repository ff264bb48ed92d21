package twitch

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/streamsafe-rl/streamsafe/ingest/internal/metrics"
	"github.com/streamsafe-rl/streamsafe/shared/logging"
)

// waitTimeout bounds every wait in these tests; it is generous because the
// machine may be loaded. Tests never assert upper bounds on timing.
const waitTimeout = 10 * time.Second

// fakeServer is a scripted IRC server: each test drives the conversation.
type fakeServer struct {
	url       string
	conns     chan *fakeConn
	clientTLS *tls.Config // trusts the server's certificate (ircs, wss)
}

// fakeConn is the server side of one client connection.
type fakeConn struct {
	in         chan string   // lines from the client
	gone       chan struct{} // the client closed (EOF, close frame, error)
	closeFrame atomic.Bool   // the client sent a WebSocket close frame
	writeRaw   func(p []byte) error
	sendFrame  func(lines ...string) error
	kill       func()
}

func newFakeServer(t *testing.T, transport string) *fakeServer {
	t.Helper()
	s := &fakeServer{conns: make(chan *fakeConn, 16)}
	switch transport {
	case "tcp", "ircs":
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		s.url = "irc://" + ln.Addr().String()
		if transport == "ircs" {
			// Borrow httptest's certificate for 127.0.0.1.
			hs := httptest.NewTLSServer(http.NotFoundHandler())
			t.Cleanup(hs.Close)
			ln = tls.NewListener(ln, &tls.Config{Certificates: hs.TLS.Certificates})
			s.url = "ircs://" + ln.Addr().String()
			s.clientTLS = trusting(hs)
		}
		go func() {
			for {
				nc, err := ln.Accept()
				if err != nil {
					return
				}
				fc := &fakeConn{in: make(chan string, 1024), gone: make(chan struct{})}
				fc.writeRaw = func(p []byte) error { _, err := nc.Write(p); return err }
				fc.sendFrame = func(lines ...string) error {
					return fc.writeRaw([]byte(strings.Join(lines, "\r\n") + "\r\n"))
				}
				fc.kill = func() { nc.Close() }
				t.Cleanup(fc.kill)
				go func() {
					defer close(fc.gone)
					br := bufio.NewReader(nc)
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						fc.in <- strings.TrimRight(l, "\r\n")
					}
				}()
				s.conns <- fc
			}
		}()
	case "ws", "wss":
		up := websocket.Upgrader{}
		hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			var mu sync.Mutex
			fc := &fakeConn{in: make(chan string, 1024), gone: make(chan struct{})}
			fc.writeRaw = func(p []byte) error {
				mu.Lock()
				defer mu.Unlock()
				return ws.WriteMessage(websocket.TextMessage, p)
			}
			fc.sendFrame = func(lines ...string) error {
				return fc.writeRaw([]byte(strings.Join(lines, "\r\n") + "\r\n"))
			}
			fc.kill = func() { ws.NetConn().Close() }
			ws.SetCloseHandler(func(code int, text string) error {
				fc.closeFrame.Store(true)
				mu.Lock()
				defer mu.Unlock()
				return ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, ""), time.Now().Add(time.Second))
			})
			go func() {
				defer close(fc.gone)
				defer ws.Close()
				for {
					_, data, err := ws.ReadMessage()
					if err != nil {
						return
					}
					for _, l := range strings.Split(string(data), "\n") {
						if l = strings.TrimRight(l, "\r"); l != "" {
							fc.in <- l
						}
					}
				}
			}()
			s.conns <- fc
		}))
		if transport == "wss" {
			hs.StartTLS()
			s.clientTLS = trusting(hs)
		} else {
			hs.Start()
		}
		t.Cleanup(hs.Close)
		s.url = "ws" + strings.TrimPrefix(hs.URL, "http")
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	return s
}

// trusting returns a client TLS config that trusts hs's certificate.
func trusting(hs *httptest.Server) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	return &tls.Config{RootCAs: pool}
}

func (s *fakeServer) accept(t *testing.T) *fakeConn {
	t.Helper()
	select {
	case c := <-s.conns:
		return c
	case <-time.After(waitTimeout):
		t.Fatal("no client connection")
		return nil
	}
}

// noConn asserts that no new connection arrives within d.
func (s *fakeServer) noConn(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-s.conns:
		t.Fatal("unexpected new client connection")
	case <-time.After(d):
	}
}

// next returns the next line from the client.
func (c *fakeConn) next(t *testing.T) string {
	t.Helper()
	select {
	case l := <-c.in:
		return l
	case <-time.After(waitTimeout):
		t.Fatal("no line from the client")
		return ""
	}
}

// expect reads the next line and checks its prefix.
func (c *fakeConn) expect(t *testing.T, prefix string) string {
	t.Helper()
	l := c.next(t)
	if !strings.HasPrefix(l, prefix) {
		t.Fatalf("client sent %q, want prefix %q", l, prefix)
	}
	return l
}

func (c *fakeConn) send(t *testing.T, lines ...string) {
	t.Helper()
	if err := c.sendFrame(lines...); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// login reads the handshake and answers with the welcome. It returns the
// nick.
func (c *fakeConn) login(t *testing.T) string {
	t.Helper()
	c.expect(t, "CAP REQ :twitch.tv/tags twitch.tv/commands twitch.tv/membership")
	l := c.next(t)
	if strings.HasPrefix(l, "PASS ") {
		l = c.next(t)
	}
	nick, ok := strings.CutPrefix(l, "NICK ")
	if !ok {
		t.Fatalf("client sent %q, want NICK", l)
	}
	c.send(t, ":tmi.twitch.tv CAP * ACK :twitch.tv/tags twitch.tv/commands twitch.tv/membership",
		":tmi.twitch.tv 001 "+nick+" :Welcome, GLHF!", ":tmi.twitch.tv 376 "+nick+" :>")
	return nick
}

// joinAll reads JOIN lines until every channel was asked for, echoing each.
func (c *fakeConn) joinAll(t *testing.T, nick string, chans ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, ch := range chans {
		want[ch] = true
	}
	for len(want) > 0 {
		l := c.expect(t, "JOIN ")
		for _, ch := range strings.Split(strings.TrimPrefix(l, "JOIN "), ",") {
			ch = strings.TrimPrefix(ch, "#")
			delete(want, ch)
			c.send(t, ":"+nick+"!"+nick+"@"+nick+".tmi.twitch.tv JOIN #"+ch)
		}
	}
}

// autoPong answers the client's PINGs from now on (and swallows its other
// lines).
func (c *fakeConn) autoPong() {
	go func() {
		for {
			select {
			case l := <-c.in:
				if arg, ok := strings.CutPrefix(l, "PING "); ok {
					_ = c.sendFrame(":tmi.twitch.tv PONG tmi.twitch.tv " + arg)
				}
			case <-c.gone:
				return
			}
		}
	}()
}

func (c *fakeConn) waitGone(t *testing.T) {
	t.Helper()
	select {
	case <-c.gone:
	case <-time.After(waitTimeout):
		t.Fatal("client did not close the connection")
	}
}

// harness runs a Client and collects the lines it hands on.
type harness struct {
	cl     *Client
	m      *metrics.Metrics
	lines  chan string
	errc   chan error
	cancel context.CancelFunc
	closed chan struct{} // the batch channel was closed
}

func testConfig(url string, chans ...string) Config {
	return Config{
		URL:          url,
		Channels:     chans,
		DialTimeout:  2 * time.Second,
		IdlePing:     time.Minute,
		PongTimeout:  time.Minute,
		BackoffBase:  10 * time.Millisecond,
		BackoffMax:   50 * time.Millisecond,
		CloseTimeout: time.Second,
		DrainTimeout: time.Second,
		Logger:       logging.Discard(),
	}
}

// startClient runs a client whose output is read by a collector unless
// outCap < 0, in which case the test reads h.out itself.
func startClient(t *testing.T, cfg Config, out chan *Batch) *harness {
	t.Helper()
	h := &harness{
		m:      metrics.New(prometheus.NewRegistry()),
		lines:  make(chan string, 100000),
		errc:   make(chan error, 1),
		closed: make(chan struct{}),
	}
	collect := out == nil
	if collect {
		out = make(chan *Batch, 16)
	}
	cl, err := New(cfg, out, h.m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.cl = cl
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.errc <- cl.Run(ctx) }()
	if collect {
		go func() {
			defer close(h.closed)
			for b := range out {
				for i := range b.Len() {
					h.lines <- string(b.Line(i))
				}
				b.Release()
			}
		}()
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-h.errc:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after cancel")
		}
	})
	return h
}

// line waits for the next line handed on by the client.
func (h *harness) line(t *testing.T) string {
	t.Helper()
	select {
	case l := <-h.lines:
		return l
	case <-time.After(waitTimeout):
		t.Fatal("no line from the client")
		return ""
	}
}

// stop cancels Run and returns its error.
func (h *harness) stop(t *testing.T) error {
	t.Helper()
	h.cancel()
	select {
	case err := <-h.errc:
		h.errc <- err // for Cleanup
		return err
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
		return nil
	}
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
