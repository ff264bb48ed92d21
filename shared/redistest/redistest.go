// Package redistest starts a real, throw-away redis-server for tests: one
// process per call, on a free loopback port, memory only, in a temporary
// directory, killed when the test ends. It never falls back to a fake: when
// redis-server is missing the test is skipped, or fails when the environment
// variable REDISTEST_REQUIRED=1 (as CI sets it).
package redistest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a running redis-server started by Start.
type Server struct {
	Addr   string // host:port
	proc   *os.Process
	exited chan struct{}
}

// Start launches redis-server and returns its address. extraArgs are passed
// to redis-server as command-line options (for example "--maxmemory", "1mb").
func Start(tb testing.TB, extraArgs ...string) string {
	tb.Helper()
	return StartServer(tb, extraArgs...).Addr
}

// StartServer is Start returning the Server, for tests that stop and restart
// Redis (to test fail-open behaviour and recovery).
func StartServer(tb testing.TB, extraArgs ...string) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("REDISTEST_REQUIRED") == "1" {
			tb.Fatalf("redistest: redis-server not found and REDISTEST_REQUIRED=1: %v", err)
		}
		tb.Skipf("redistest: redis-server not found (install it, e.g. apt-get install redis-server): %v", err)
	}
	dir := tb.TempDir()
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			lastErr = err
			continue
		}
		s, err := launch(bin, dir, port, extraArgs)
		if err != nil {
			lastErr = err
			continue
		}
		tb.Cleanup(s.Stop)
		return s
	}
	tb.Fatalf("redistest: redis-server did not become ready: %v", lastErr)
	return nil
}

// Stop kills the server and waits for it to exit. It is safe to call twice.
func (s *Server) Stop() {
	if s.proc == nil {
		return
	}
	_ = s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// Restart starts a fresh, empty redis-server on the same address after Stop,
// simulating a dependency that comes back.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: %v", err)
	}
	_, portStr, _ := net.SplitHostPort(s.Addr)
	port, _ := strconv.Atoi(portStr)
	var lastErr error
	for range 50 {
		ns, err := launch(bin, tb.TempDir(), port, nil)
		if err == nil {
			s.proc, s.exited = ns.proc, ns.exited
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("redistest: restart on %s: %v", s.Addr, lastErr)
}

func launch(bin, dir string, port int, extra []string) (*Server, error) {
	args := []string{
		"--bind", "127.0.0.1", "--port", strconv.Itoa(port),
		"--save", "", "--appendonly", "no", "--dir", dir,
		"--daemonize", "no", "--loglevel", "warning", "--logfile", "",
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start redis-server: %w", err)
	}
	waitErr := make(chan error, 1)
	exited := make(chan struct{})
	go func() { waitErr <- cmd.Wait(); close(exited) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-waitErr:
			return nil, fmt.Errorf("redis-server on port %d exited early: %v", port, err)
		default:
		}
		if ping(addr) == nil {
			return &Server{Addr: addr, proc: cmd.Process, exited: exited}, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	<-exited
	return nil, fmt.Errorf("redis-server on port %d: no PONG within 5s", port)
}

// ping sends a raw RESP PING so this package needs no Redis client.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := c.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// CPU returns the CPU seconds (user + system) the redis-server at addr has
// used, from INFO cpu: benchmarks report the difference per operation as
// the cost Redis's single thread pays.
func CPU(tb testing.TB, addr string) float64 {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		tb.Fatalf("redistest: INFO cpu: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("*2\r\n$4\r\nINFO\r\n$3\r\ncpu\r\n")); err != nil {
		tb.Fatalf("redistest: INFO cpu: %v", err)
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		tb.Fatalf("redistest: INFO cpu: reply %q, %v", head, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		tb.Fatalf("redistest: INFO cpu: bad length %q", head)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		tb.Fatalf("redistest: INFO cpu: %v", err)
	}
	var sum float64
	for _, l := range strings.Split(string(body), "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && (k == "used_cpu_user" || k == "used_cpu_sys") {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("redistest: INFO cpu: %s: %v", l, err)
			}
			sum += f
		}
	}
	return sum
}
