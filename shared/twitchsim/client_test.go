package twitchsim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// startServer starts a simulator on 127.0.0.1:0 and closes it at cleanup.
func startServer(t *testing.T, mutate func(*Config)) *Server {
	t.Helper()
	cfg := DefaultConfig()
	cfg.WSAddr, cfg.TCPAddr, cfg.ControlAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Channels = 2
	cfg.Rate = 0
	cfg.Tick = time.Millisecond
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("Start() = %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
	})
	return s
}

// testClient is a raw IRC client over TCP or WebSocket that collects lines.
type testClient struct {
	t     *testing.T
	nc    net.Conn
	ws    *websocket.Conn
	lines chan string
	done  chan struct{}

	// mu guards the fields below.
	mu         sync.Mutex
	tail       string // bytes after the last CRLF when the connection ended
	frameLines []int  // lines per WebSocket frame
	frameBytes []int
}

func dial(t *testing.T, s *Server, transport string) *testClient {
	t.Helper()
	c := &testClient{t: t, lines: make(chan string, 1<<18), done: make(chan struct{})}
	switch transport {
	case "tcp":
		nc, err := net.Dial("tcp", s.TCPAddr())
		if err != nil {
			t.Fatalf("dial tcp: %v", err)
		}
		c.nc = nc
		go c.readTCP()
	case "ws":
		ws, _, err := websocket.DefaultDialer.Dial(s.WSURL(), nil)
		if err != nil {
			t.Fatalf("dial ws: %v", err)
		}
		c.ws = ws
		go c.readWS()
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	t.Cleanup(c.close)
	return c
}

func (c *testClient) readTCP() {
	defer close(c.done)
	defer close(c.lines)
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.mu.Lock()
			c.tail = line
			c.mu.Unlock()
			return
		}
		c.lines <- strings.TrimSuffix(line, "\r\n")
	}
}

func (c *testClient) readWS() {
	defer close(c.done)
	defer close(c.lines)
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		s := string(data)
		parts := strings.Split(s, "\r\n")
		c.mu.Lock()
		c.frameLines = append(c.frameLines, len(parts)-1)
		c.frameBytes = append(c.frameBytes, len(data))
		if last := parts[len(parts)-1]; last != "" {
			c.tail = last // a line without CRLF (only written by a mid-line disconnect)
		}
		c.mu.Unlock()
		for _, p := range parts[:len(parts)-1] {
			c.lines <- p
		}
	}
}

func (c *testClient) close() {
	if c.nc != nil {
		_ = c.nc.Close()
	}
	if c.ws != nil {
		_ = c.ws.Close()
	}
}

// send writes one command: CRLF-terminated over TCP, one frame without
// CRLF over WebSocket (like tmi.js).
func (c *testClient) send(line string) {
	c.t.Helper()
	var err error
	if c.nc != nil {
		_, err = c.nc.Write([]byte(line + "\r\n"))
	} else {
		err = c.ws.WriteMessage(websocket.TextMessage, []byte(line))
	}
	if err != nil {
		c.t.Fatalf("send %q: %v", line, err)
	}
}

// next returns the next line; ok is false on EOF or timeout.
func (c *testClient) next(timeout time.Duration) (string, bool) {
	select {
	case l, ok := <-c.lines:
		return l, ok
	case <-time.After(timeout):
		return "", false
	}
}

func (c *testClient) expect(want string) {
	c.t.Helper()
	got, ok := c.next(3 * time.Second)
	if !ok {
		c.t.Fatalf("expected %q, got EOF/timeout", want)
	}
	if got != want {
		c.t.Fatalf("line = %q\n           want %q", got, want)
	}
}

// waitFor skips lines until pred matches.
func (c *testClient) waitFor(what string, timeout time.Duration, pred func(string) bool) string {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		l, ok := c.next(time.Until(deadline))
		if !ok {
			c.t.Fatalf("waiting for %s: EOF or timeout", what)
		}
		if pred(l) {
			return l
		}
	}
}

// waitClosed drains lines until the server closes the connection.
func (c *testClient) waitClosed(timeout time.Duration) []string {
	c.t.Helper()
	var got []string
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				return got
			}
			got = append(got, l)
		case <-deadline:
			c.t.Fatalf("connection still open after %s", timeout)
		}
	}
}

const allCaps = "twitch.tv/tags twitch.tv/commands twitch.tv/membership"

// login performs the handshake and consumes the welcome burst.
func (c *testClient) login(nick, pass string, caps bool) {
	c.t.Helper()
	if caps {
		c.send("CAP REQ :" + allCaps)
	}
	if pass != "" {
		c.send("PASS " + pass)
	}
	c.send("NICK " + nick)
	c.waitFor("376", 3*time.Second, func(l string) bool { return strings.Contains(l, " 376 ") })
	if caps && !isAnonymous(nick) {
		c.waitFor("GLOBALUSERSTATE", 3*time.Second, func(l string) bool { return strings.HasSuffix(l, "GLOBALUSERSTATE") })
	}
}

// join joins channels and waits for the last channel's final JOIN reply.
func (c *testClient) join(caps bool, channels ...string) {
	c.t.Helper()
	c.send("JOIN #" + strings.Join(channels, ",#"))
	last := channels[len(channels)-1]
	suffix := " 366 "
	if caps {
		suffix = "ROOMSTATE #" + last
	}
	c.waitFor("join reply", 3*time.Second, func(l string) bool {
		return strings.Contains(l, suffix) && strings.Contains(l, "#"+last)
	})
}

func httpPost(t *testing.T, s *Server, pathAndQuery string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.ControlURL()+pathAndQuery, "", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", pathAndQuery, err)
	}
	defer resp.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil && !errors.Is(err, io.EOF) {
		t.Fatalf("POST %s: decode: %v", pathAndQuery, err)
	}
	return resp.StatusCode, body
}

func getStats(t *testing.T, s *Server) Stats {
	t.Helper()
	resp, err := http.Get(s.ControlURL() + "/stats")
	if err != nil {
		t.Fatalf("GET /stats: %v", err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /stats: decode: %v", err)
	}
	return st
}

// eventually polls cond every 10 ms until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitSettled waits until generation is done and nothing is in flight.
func waitSettled(t *testing.T, s *Server) Stats {
	t.Helper()
	select {
	case <-s.GenerationDone():
	case <-time.After(20 * time.Second):
		t.Fatal("generation did not finish")
	}
	var st Stats
	eventually(t, "inflight == 0", 10*time.Second, func() bool {
		st = s.Stats()
		return st.Inflight == 0
	})
	return st
}
