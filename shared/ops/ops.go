// Package ops holds what operating a service needs: its HTTP endpoints
// (Prometheus metrics on /metrics, liveness on /health and readiness on
// /ready) and its signal handling (SignalContext). Health and
// readiness are answered from in-memory state only (atomic flags that the
// service's components set), never by doing I/O in the handler, so they stay
// fast while the service is saturated.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Readiness is a fixed set of named conditions that must all hold for the
// service to be ready. Conditions are declared up front and flipped with Set
// from any goroutine.
type Readiness struct {
	names []string
	flags []atomic.Bool
}

// NewReadiness declares the conditions, all initially false.
func NewReadiness(conditions ...string) *Readiness {
	return &Readiness{names: conditions, flags: make([]atomic.Bool, len(conditions))}
}

// Set sets condition name. Unknown names are a programming error and panic.
func (r *Readiness) Set(name string, ok bool) {
	for i, n := range r.names {
		if n == name {
			r.flags[i].Store(ok)
			return
		}
	}
	panic("BUG: ops: unknown readiness condition " + name)
}

// Ready reports whether every condition holds, and the state of each.
func (r *Readiness) Ready() (bool, map[string]bool) {
	all := true
	m := make(map[string]bool, len(r.names))
	for i, n := range r.names {
		v := r.flags[i].Load()
		m[n] = v
		all = all && v
	}
	return all, m
}

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors registered.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server is the operational HTTP server.
type Server struct {
	srv     *http.Server
	ln      net.Listener
	started time.Time
}

// Handler returns the mux with /metrics, /health and /ready.
func Handler(reg *prometheus.Registry, ready *Readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		ok, conds := ready.Ready()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_ = json.NewEncoder(w).Encode(struct {
			Ready      bool            `json:"ready"`
			Conditions map[string]bool `json:"conditions"`
		}{ok, conds})
	})
	return mux
}

// WithPprof returns h with Go's profiling endpoints under /debug/pprof/
// (net/http/pprof). They reveal the service's internals and cost CPU while
// a profile runs, so services serve them only when asked (<SERVICE>_PPROF)
// and on their ops address, which is loopback by default.
func WithPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// Listen binds addr ("127.0.0.1:0" picks a free port). An empty addr disables
// the server: Serve then just waits for ctx.
func Listen(addr string, h http.Handler) (*Server, error) {
	s := &Server{srv: &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}, started: time.Now()}
	if addr == "" {
		return s, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	s.ln = ln
	return s, nil
}

// Addr returns the bound address, or "" when disabled.
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Serve serves until ctx is done, then shuts down within shutdownTimeout.
func (s *Server) Serve(ctx context.Context, shutdownTimeout time.Duration) error {
	if s.ln == nil {
		<-ctx.Done()
		return nil
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve ops http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down ops http: %w", err)
	}
	return nil
}
